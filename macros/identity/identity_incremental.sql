{#-
    Incremental identity resolution.

    A build recomputes only what the identifier rows that arrived since the last identity
    build touch. The scope models (int_identity_scope_*) name it:

    - values: every normalised value on an arrived row (its count, guard decision and node
      may change);
    - records: the arrived records and every record carrying one of those values (their
      kept identifiers may change);
    - nodes: every node of those records and values, and every node of a first-pass
      component that holds one of them (the components that may gain, lose or join nodes).
      Such a set is closed: a record with a node in it has all its nodes in it, so its
      components computed alone are the components of the whole graph.

    Each scoped model deletes the rows of its scope and inserts them recomputed (the
    `identity_scope` strategy below); the rest stays as built. Node numbers are hashes of
    the node key and a component is named by its smallest node, so a component recomputed
    alone gets the number a full build gives it.

    The rules the graph depends on have a fingerprint (identity_rules_fingerprint). When it
    differs from the one int_identity_state stored at the end of the last identity build, or
    on --full-refresh, every identity model is recomputed in full.
-#}

{#- True when this model builds incrementally (false while parsing and in unit tests). -#}
{% macro identity_incremental() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if config.get('materialized') == 'incremental' and not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(not cdp.identity_rules_changed()) }}
{%- endmacro %}


{#- True when the last identity build used other rules than this one (or there was none). -#}
{% macro identity_rules_changed() -%}
    {%- set state = cdp.identity_previous_build('int_identity_state') -%}
    {%- if state is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set stored = run_query('select distinct fingerprint from ' ~ state).columns[0].values() -%}
    {{ return(stored | length != 1 or stored[0] != cdp.identity_rules_fingerprint()) }}
{%- endmacro %}


{#-
    What the identity graph of the same records depends on, as one md5: the normalisation
    SQL (with its variables), the identifier declarations, the files of the declaring models,
    of the identity models and of the identity seeds (blocklist, types, calling codes).
-#}
{% macro identity_rules_fingerprint() -%}
    {%- set parts = [
        cdp.normalise_identifier('t', 'v', 'c', 'p') | string,
        cdp.identity_phone_country('c') | string,
    ] -%}
    {%- for decl in cdp.identity_declarations() -%}
        {%- do parts.append(tojson({
            'name': decl.name, 'source': decl.source, 'record_id': decl.record_id,
            'seen_at': decl.seen_at, 'identifiers': decl.identifiers,
        })) -%}
    {%- endfor -%}
    {%- set declaring = cdp.identity_declarations() | map(attribute='name') | list -%}
    {%- for node in (graph.get('nodes') or {}).values() | sort(attribute='unique_id') -%}
        {%- set path = node.original_file_path | replace('\\', '/') -%}
        {%- if (node.resource_type == 'model' and (
                node.name in declaring
                or (path.startswith('models/intermediate/identity/') and 'attributes' not in path)))
            or (node.resource_type == 'seed' and node.name in
                ['identity_identifier_types', 'identity_blocklist', 'country_calling_codes']) -%}
            {%- do parts.append(node.unique_id ~ '=' ~ node.checksum.checksum) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('\n'))) }}
{%- endmacro %}


{#-
    The incremental strategy of the identity models: delete the rows of this build's scope
    (config meta.identity_scope: {model: <scope model>, key: [its columns], columns: [the
    matching columns here, when named otherwise]}; none for append-only models), or every
    row when the rules changed, then insert the new rows. One transaction.
-#}
{% macro get_incremental_identity_scope_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set scope = (config.get('meta') or {}).get('identity_scope') -%}
    {%- if cdp.identity_rules_changed() %}
    delete from {{ target }};
    {%- elif scope %}
    delete from {{ target }} as target
    where exists (
        select 1 from {{ ref(scope.model) }} as scope
        where
        {%- set own = scope.get('columns') or scope.key %}
        {%- for column in scope.key %}
            scope.{{ column }} = target.{{ own[loop.index0] }}{{ ' and' if not loop.last }}
        {%- endfor %}
    );
    {%- endif %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#- The relation a model of this project had after the last build (none before the first). -#}
{% macro identity_previous_build(model_name) -%}
    {%- set node = (graph.get('nodes') or {}).get('model.' ~ project_name ~ '.' ~ model_name) if execute else none -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(node.database, node.schema, node.alias)) }}
{%- endmacro %}


{#-
    The rows of `nodes` (a relation with node_id) in this build's scope that exist now, as a
    parenthesised subquery (give it an alias).
-#}
{% macro identity_scoped_nodes(nodes) -%}
(
    select nodes.*
    from {{ nodes }} as nodes
    inner join {{ ref('int_identity_scope_nodes') }} as scope_nodes
        on nodes.node_id = scope_nodes.node_id
    where scope_nodes.is_current
)
{%- endmacro %}


{#- The edges of `edges` (node_a, node_b) in this build's scope, as a parenthesised subquery. -#}
{% macro identity_scoped_edges(edges) -%}
(
    select edges.*
    from {{ edges }} as edges
    inner join {{ ref('int_identity_scope_nodes') }} as scope_nodes
        on edges.node_a = scope_nodes.node_id
)
{%- endmacro %}


{#-
    `select *` from `relation`: in an incremental build only its rows in this build's scope
    (those whose `columns` match the scope model's `key`), in a full build all of them.
    Callers declare `-- depends_on: {{ ref(scope_model) }}`.
-#}
{% macro identity_scoped(relation, scope_model, key, columns=none) -%}
    {%- if cdp.identity_incremental() -%}
    select scoped.*
    from {{ relation }} as scoped
    inner join {{ ref(scope_model) }} as scope
        on
        {%- for column in key %}
            scope.{{ column }} = scoped.{{ (columns or key)[loop.index0] }}{{ ' and' if not loop.last }}
        {%- endfor %}
    {%- else -%}
    select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}
