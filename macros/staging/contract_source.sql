{#-
    The source contract of a model: the dbt source table it reads that has `meta.cdp` (the
    loader's keys, see dbt_project.yml `vars.cdp_loading`), from dbt's graph, or none. A
    staging model reads one such source. `graph` is filled only at execution time, so this
    returns none while parsing.
-#}
{% macro contract_source(node) -%}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for unique_id in node.depends_on.nodes if unique_id.startswith('source.') -%}
            {%- set source_node = graph.sources.get(unique_id) -%}
            {%- if source_node and cdp.contract_meta(source_node) -%}
                {%- do found.append(source_node) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if found | length > 1 -%}
        {{ exceptions.raise_compiler_error(
            node.name ~ " reads " ~ found | length ~ " contract sources; a staging model reads one") }}
    {%- endif -%}
    {{ return(found[0] if found else none) }}
{%- endmacro %}
