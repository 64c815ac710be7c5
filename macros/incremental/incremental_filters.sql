{#-
    Filters for incremental models: on an incremental build only rows loaded after the
    newest row already in the model are read. A full refresh (or the first build) reads
    everything, so both paths give the same rows.
-#}

{#- `where <column> > newest <column> in this model` (optionally among rows matching `among`). -#}
{% macro loaded_since_last_build(column='_loaded_at', this_column=none, among=none) -%}
    {%- if is_incremental() -%}
    {{ column }} > (
        select coalesce(max({{ this_column or column }}), cast('1900-01-01' as timestamp))
        from {{ this }}
        {%- if among %} where {{ among }}{% endif %}
    )
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- `<key> is not already in this model`: drops later copies of records already built. -#}
{% macro not_built_yet(key, relation_alias) -%}
    {%- if is_incremental() -%}
    not exists (
        select 1 from {{ this }} as built
        where built.{{ key }} = {{ relation_alias }}.{{ key }}
    )
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}
