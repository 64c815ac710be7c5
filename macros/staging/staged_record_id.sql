{#-
    The record id of a staging model, as its columns are named in the model: the model's
    `meta.identity.record_id` when it renames the source's key columns, else the record id of
    its source contract (`meta.cdp.record_id`). Execution time only (see contract_source).
-#}
{% macro staged_record_id(node) -%}
    {%- set identity = (node.config.meta or {}).get('identity') or {} -%}
    {%- if identity.get('record_id') -%}
        {{ return(identity['record_id']) }}
    {%- endif -%}
    {%- set source_node = cdp.contract_source(node) -%}
    {%- if source_node is none -%}
        {{ exceptions.raise_compiler_error(
            node.name ~ " has no record id: it reads no source with meta.cdp.record_id, and its "
            ~ "YAML declares no meta.identity.record_id") }}
    {%- endif -%}
    {{ return(cdp.contract_meta(source_node)['record_id']) }}
{%- endmacro %}
