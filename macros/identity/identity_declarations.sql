{#-
    Every model that declares identifiers in its YAML `meta.identity`, found in dbt's graph:
    a list of {name, source, record_id, seen_at, identifiers, attributes}, sorted by name.
    `source` defaults to the raw table the model reads (its source contract's identifier,
    e.g. crm_contacts), else the model name without the stg_ prefix and with one underscore
    between source and entity; `record_id` to the model's record id (staged_record_id: the
    source contract's `meta.cdp.record_id`, unless the model renames those columns).

    dbt fills `graph` only at execution time, so this returns [] while parsing.
-#}
{% macro identity_declarations() -%}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for node in (graph.get('nodes') or {}).values() | sort(attribute='name') -%}
            {%- set decl = node.config.meta.get('identity') if node.resource_type == 'model' else none -%}
            {%- if decl -%}
                {%- set contract = cdp.contract_source(node) -%}
                {%- set default_source = contract.identifier if contract
                    else node.name | replace('stg_', '', 1) | replace('__', '_') -%}
                {%- do found.append({
                    'name': node.name,
                    'source': decl.get('source', default_source),
                    'record_id': cdp.staged_record_id(node),
                    'seen_at': decl.get('seen_at'),
                    'identifiers': decl.get('identifiers', []),
                    'attributes': decl.get('attributes', {}),
                }) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}


{#- The source record id of a declaration: its key columns joined with '|'. -#}
{% macro identity_record_id(declaration) -%}
    {%- set parts = [] -%}
    {%- for column in declaration.record_id -%}
        {%- do parts.append("cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")") -%}
    {%- endfor -%}
    {%- if parts | length == 1 -%}
        {{ parts[0] }}
    {%- else -%}
        concat({{ parts | join(", '|', ") }})
    {%- endif -%}
{%- endmacro %}


{#-
    Fails the model when its parse-time dependencies and the models that declare identity
    meta differ: dbt orders models by the refs it sees while parsing, and the graph is not
    available then, so the union models ref every model in identity_input_models(), a list
    written from the models YAML (macros/identity/_generated_identity_inputs.sql) whenever
    `cdp` prepares the manifest. After a YAML edit run outside `cdp` it may be stale.
-#}
{% macro identity_check_dependencies(declarations) -%}
    {%- if execute -%}
        {%- set declared = declarations | map(attribute='name') | list -%}
        {%- set depends = [] -%}
        {%- for unique_id in model.depends_on.nodes -%}
            {%- if unique_id.startswith('model.') -%}{%- do depends.append(unique_id.split('.')[-1]) -%}{%- endif -%}
        {%- endfor -%}
        {%- for name in declared if name not in depends -%}
            {{ exceptions.raise_compiler_error(
                name ~ " declares meta.identity but " ~ model.name ~ " does not depend on it: "
                ~ "macros/identity/_generated_identity_inputs.sql is stale; write it again with "
                ~ "`python -m orchestration.dbt_inputs` (any `cdp` command does it too)") }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
