{#-
    Profile attributes (names, address, birth date) as each source record wrote them
    (trimmed), from the `attributes` of every model that declares `meta.identity`, with
    email and phone taken from the kept identifiers.
-#}
{#- parse-time refs to every model that declares meta.identity (generated list) #}
{%- for name in cdp.identity_input_models() %}
-- depends_on: {{ ref(name) }}
{%- endfor %}
{%- set all_declarations = cdp.identity_declarations() %}
{{ cdp.identity_check_dependencies(all_declarations) }}
{%- set declarations = all_declarations | selectattr('attributes') | list %}
{%- set text = dbt.type_string() %}

with
{% for decl in declarations %}
{{ decl.name }}_attributes as (
    select
        '{{ decl.source }}' as source,
        {{ cdp.identity_record_id(decl) }} as source_record_id,
        declared.attribute,
        declared.attribute_value,
        {{ decl.seen_at or '_loaded_at' }} as seen_at
    from {{ ref(decl.name) }}
    cross join
        lateral (
            values
            {%- for attribute, column in decl.attributes.items() | sort %}
            ('{{ attribute }}', nullif(trim(cast({{ column }} as {{ text }})), '')){{ "," if not loop.last }}
            {%- endfor %}
        ) as declared (attribute, attribute_value)
    where declared.attribute_value is not null
),
{% endfor %}

identifier_attributes as (
    select
        source,
        source_record_id,
        identifier_type as attribute,  -- noqa: RF04
        identifier_value as attribute_value,
        seen_at
    from {{ ref('int_identifiers_kept') }}
    where identifier_type in ('email', 'phone')
),

unioned as (
    {%- for decl in declarations %}
    select * from {{ decl.name }}_attributes
    union all
    {%- endfor %}
    select * from identifier_attributes
)

select * from unioned
