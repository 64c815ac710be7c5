{#-
    The staging models with the raw table and record id of their source contract: a list of
    (model name, raw relation, record id columns) from dbt's graph, sorted by model. Every
    staging model must be in staging_models() (the generated list the callers ref while
    parsing); a stale list fails with the command that writes it again. Empty while parsing.
-#}
{% macro staged_contracts() -%}
    {%- set staged = [] -%}
    {%- if execute -%}
        {%- set listed = cdp.staging_models() -%}
        {%- for node in graph.nodes.values() | sort(attribute='name')
            if node.resource_type == 'model' and node.fqn[1:2] == ['staging'] -%}
            {%- if node.name not in listed -%}
                {{ exceptions.raise_compiler_error(
                    node.name ~ " is not in macros/staging/_generated_staging_models.sql: write it "
                    ~ "again with `python -m orchestration.dbt_inputs` (any `cdp` command does it too)") }}
            {%- endif -%}
            {%- set contract = cdp.contract_source(node) -%}
            {%- if contract -%}
                {%- do staged.append(
                    (node.name, contract.relation_name, cdp.contract_meta(contract).record_id)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(staged) }}
{%- endmacro %}
