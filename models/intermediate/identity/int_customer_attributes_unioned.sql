{#-
    Profile attributes (names, address, birth date) as each source record wrote them
    (trimmed), from the `attributes` of every model that declares `meta.identity`. Email and
    phone come from the kept identifiers (dim_customers reads them there).

    Append-only, as staging: a build adds the rows loaded after the newest row of their
    source here, and an edited model (or staging model) rebuilds it in full (strategy
    new_loads, macros/incremental).
-#}
{{ config(**cdp.new_loads_config()) }}
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
        {{ decl.seen_at or '_loaded_at' }} as seen_at,
        _loaded_at as loaded_at  -- noqa: RF02
    from (
        select * from {{ ref(decl.name) }}
        where {{ cdp.loaded_since_last_build('_loaded_at', 'loaded_at', "source = '" ~ decl.source ~ "'") }}
    ) as staged
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

unioned as (
    {%- for decl in declarations %}
    select * from {{ decl.name }}_attributes
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not declarations %}
    select
        cast(null as {{ text }}) as source,
        cast(null as {{ text }}) as source_record_id,
        cast(null as {{ text }}) as attribute,
        cast(null as {{ text }}) as attribute_value,
        cast(null as timestamp) as seen_at,
        cast(null as timestamp) as loaded_at
    where false
    {%- endif %}
)

select * from unioned
