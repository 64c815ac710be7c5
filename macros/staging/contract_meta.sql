{#- `meta.cdp` of a source table (under `config.meta`, or the top-level `meta`), or none. -#}
{% macro contract_meta(source_node) -%}
    {%- set config_meta = (source_node.config or {}).get('meta') or {} -%}
    {{ return(config_meta.get('cdp') or (source_node.meta or {}).get('cdp')) }}
{%- endmacro %}
