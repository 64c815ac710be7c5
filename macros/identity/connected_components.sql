{#-
    Connected components of a graph in SQL, portable between DuckDB and Postgres.

    nodes: relation with an integer `node_id` per node (isolated nodes included);
    edges: relation with integer columns `node_a`, `node_b`.
    Returns SQL selecting (node_id, component_id); component_id is the smallest node_id of
    the component.

    Algorithm: minimum-label hooking with pointer jumping on a contracting graph. Each
    round every label with a smaller neighbour hooks to its smallest neighbour, hook
    chains are shortened by pointer jumping (p <- p(p), each pass halves their length),
    nodes take their root's label and the edges are rewritten between roots, dropping
    those inside a component. Every label that is not a local minimum disappears in a
    round, so with node ids in pseudo-random order (see int_identity_nodes_numbered) the
    number of rounds grows with log(component size), not with its diameter.

    At run time the rounds run as statements on work tables named after the model and
    stop when no edge is left; more than `identity_components_max_rounds` rounds (default
    64) fails the model. With the variable `identity_components_inline_rounds` set (dbt
    unit tests) the same steps are unrolled into one query of that many rounds.
-#}
{% macro connected_components(nodes, edges) -%}
    {%- set inline_rounds = var('identity_components_inline_rounds', none) -%}
    {%- if inline_rounds is not none -%}
        {{ return(cdp._cc_inline(nodes, edges, inline_rounds | int, 6)) }}
    {%- elif execute and flags.WHICH in ('run', 'build') -%}
        {{ return(cdp._cc_iterate(nodes, edges, var('identity_components_max_rounds', 64) | int)) }}
    {%- else -%}
        {#- compile / docs: the shape of the result without running the rounds -#}
        {{ return('select node_id, node_id as component_id from ' ~ nodes) }}
    {%- endif -%}
{%- endmacro %}


{#- The steps, shared by both modes. Edges are kept with a < b. -#}
{% macro _cc_sql_edges(edges) -%}
    select distinct
        least(node_a, node_b) as a,
        greatest(node_a, node_b) as b
    from {{ edges }}
    where node_a <> node_b
{%- endmacro %}

{% macro _cc_sql_hook(edges) -%}
    select b as v, min(a) as p from {{ edges }} group by b
{%- endmacro %}

{% macro _cc_sql_jump(parents) -%}
    select parent.v, coalesce(grandparent.p, parent.p) as p
    from {{ parents }} as parent
    left join {{ parents }} as grandparent on grandparent.v = parent.p
{%- endmacro %}

{% macro _cc_sql_relabel(labels, parents) -%}
    select labels.node_id, coalesce(parents.p, labels.label) as label
    from {{ labels }} as labels
    left join {{ parents }} as parents on parents.v = labels.label
{%- endmacro %}

{% macro _cc_sql_contract(edges, parents) -%}
    select distinct
        least(new_a, new_b) as a,
        greatest(new_a, new_b) as b
    from (
        select
            coalesce(parent_a.p, edges.a) as new_a,
            coalesce(parent_b.p, edges.b) as new_b
        from {{ edges }} as edges
        left join {{ parents }} as parent_a on parent_a.v = edges.a
        left join {{ parents }} as parent_b on parent_b.v = edges.b
    ) as rewritten
    where new_a <> new_b
{%- endmacro %}


{% macro _cc_inline(nodes, edges, rounds, jumps) -%}
    with
    cc_labels_0 as (select node_id, node_id as label from {{ nodes }}),
    cc_edges_0 as ({{ cdp._cc_sql_edges(edges) }}),
    {%- for r in range(1, rounds + 1) %}
    cc_parents_{{ r }}_0 as ({{ cdp._cc_sql_hook('cc_edges_' ~ (r - 1)) }}),
    {%- for j in range(1, jumps + 1) %}
    cc_parents_{{ r }}_{{ j }} as ({{ cdp._cc_sql_jump('cc_parents_' ~ r ~ '_' ~ (j - 1)) }}),
    {%- endfor %}
    cc_labels_{{ r }} as ({{ cdp._cc_sql_relabel('cc_labels_' ~ (r - 1), 'cc_parents_' ~ r ~ '_' ~ jumps) }}),
    cc_edges_{{ r }} as ({{ cdp._cc_sql_contract('cc_edges_' ~ (r - 1), 'cc_parents_' ~ r ~ '_' ~ jumps) }}),
    {%- endfor %}
    cc_result as (select node_id, label as component_id from cc_labels_{{ rounds }})
    select * from cc_result
{%- endmacro %}


{#- Work table `<model>__cc_<suffix>` next to the model being built. -#}
{% macro _cc_work(suffix) -%}
    {{ return(api.Relation.create(database=this.database, schema=this.schema, identifier=this.identifier ~ '__cc_' ~ suffix)) }}
{%- endmacro %}

{% macro _cc_replace(relation, sql) -%}
    {% do run_query('drop table if exists ' ~ relation) %}
    {% do run_query('create table ' ~ relation ~ ' as ' ~ sql) %}
    {% do cdp.analyze_relation(relation) %}
{%- endmacro %}

{% macro _cc_count(sql) -%}
    {{ return(run_query('select count(*) from (' ~ sql ~ ') as counted').columns[0].values()[0] | int) }}
{%- endmacro %}

{% macro _cc_iterate(nodes, edges, max_rounds) -%}
    {%- set labels = cdp._cc_work('labels') -%}
    {%- set work_edges = cdp._cc_work('edges') -%}
    {%- set parents = cdp._cc_work('parents') -%}
    {%- set scratch = cdp._cc_work('scratch') -%}
    {%- set started = modules.datetime.datetime.now() -%}
    {% do cdp._cc_replace(labels, 'select node_id, node_id as label from ' ~ nodes) %}
    {% do cdp._cc_replace(work_edges, cdp._cc_sql_edges(edges)) %}
    {%- set state = {'rounds': 0, 'jumps': 0, 'edges': cdp._cc_count('select 1 from ' ~ work_edges)} -%}
    {%- set first_edges = state.edges -%}
    {%- for _ in range(max_rounds + 1) if state.edges > 0 -%}
        {%- if state.rounds >= max_rounds -%}
            {{ exceptions.raise_compiler_error(
                "connected components did not converge in " ~ max_rounds ~ " rounds ("
                ~ state.edges ~ " edges between labels left); raise identity_components_max_rounds "
                ~ "only after checking the graph for a pathological shape") }}
        {%- endif -%}
        {% do state.update({'rounds': state.rounds + 1}) %}
        {% do cdp._cc_replace(parents, cdp._cc_sql_hook(work_edges)) %}
        {#- pointer jumping until every parent is a root; each pass halves the chains -#}
        {%- set chained = 'select 1 from ' ~ parents ~ ' as c inner join ' ~ parents ~ ' as g on g.v = c.p' -%}
        {% do state.update({'chained': cdp._cc_count(chained) > 0}) %}
        {%- for _ in range(64) if state.chained -%}
            {% do cdp._cc_replace(scratch, cdp._cc_sql_jump(parents)) %}
            {% do run_query('drop table ' ~ parents) %}
            {% do run_query('alter table ' ~ scratch ~ ' rename to ' ~ parents.identifier) %}
            {% do state.update({'jumps': state.jumps + 1, 'chained': cdp._cc_count(chained) > 0}) %}
        {%- endfor -%}
        {% do cdp._cc_replace(scratch, cdp._cc_sql_relabel(labels, parents)) %}
        {% do run_query('drop table ' ~ labels) %}
        {% do run_query('alter table ' ~ scratch ~ ' rename to ' ~ labels.identifier) %}
        {% do cdp._cc_replace(scratch, cdp._cc_sql_contract(work_edges, parents)) %}
        {% do run_query('drop table ' ~ work_edges) %}
        {% do run_query('alter table ' ~ scratch ~ ' rename to ' ~ work_edges.identifier) %}
        {% do state.update({'edges': cdp._cc_count('select 1 from ' ~ work_edges)}) %}
    {%- endfor -%}
    {% do log(
        "connected components: " ~ first_edges ~ " edges converged in " ~ state.rounds ~ " rounds ("
        ~ state.jumps ~ " pointer-jumping passes) in "
        ~ ((modules.datetime.datetime.now() - started).total_seconds() | round(1)) ~ " s", info=True) %}
    {{ return('select node_id, label as component_id from ' ~ labels) }}
{%- endmacro %}


{#- Post-hook of the components model: drop its work tables. -#}
{% macro connected_components_cleanup() -%}
    {%- if execute -%}
        {%- for suffix in ['labels', 'edges', 'parents', 'scratch'] -%}
            {% do run_query('drop table if exists ' ~ cdp._cc_work(suffix)) %}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
