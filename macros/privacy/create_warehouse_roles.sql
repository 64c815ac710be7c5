{#-
    on-run-start, on PostgreSQL: the roles the models' `grants` configs name, and USAGE on
    the schemas those models are in. Both are read from the graph (dbt_project.yml holds the
    grants, and with them the roles' names), never listed again here.

    A role that does not exist is created NOLOGIN (a person or a BI tool gets it with
    `grant <role> to <login>`). Roles belong to the whole server and builds of several
    databases may run at once, so a role another session has just created is taken as it
    is, and none is ever dropped. dbt's `grants` cover the relations only: each grantee also
    gets USAGE on the schemas of the models granted to it, and on no other schema.

    Elsewhere (DuckDB: one file, no roles; its files are owner-only) it does nothing.
-#}
{% macro create_warehouse_roles() -%}
    {{ return(adapter.dispatch('create_warehouse_roles', 'cdp')()) }}
{%- endmacro %}

{% macro default__create_warehouse_roles() -%}
{%- endmacro %}

{% macro postgres__create_warehouse_roles() -%}
    {%- if execute -%}
        {#- grantee -> the schemas of the models granted to it -#}
        {%- set usage = {} -%}
        {%- for node in graph.nodes.values()
            if node.resource_type in ['model', 'seed', 'snapshot'] and node.config.enabled -%}
            {%- for grantees in (node.config.grants or {}).values() -%}
                {%- for grantee in ([grantees] if grantees is string else grantees) -%}
                    {%- do usage.setdefault(grantee, []) -%}
                    {%- if node.schema not in usage[grantee] -%}
                        {%- do usage[grantee].append(node.schema) -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- set roles = usage.keys() | sort -%}
        {%- if not roles -%}
            {{ return('') }}
        {%- endif -%}
        {%- for role in roles if not modules.re.match('^[a-z_][a-z0-9_]*$', role) -%}
            {#- dbt writes grantees into its GRANT statements as they are, unquoted -#}
            {{ exceptions.raise_compiler_error(
                "grants to " ~ role ~ ": a role name of lower case letters, digits and "
                ~ "underscores is expected") }}
        {%- endfor -%}
        {%- set statements -%}
            do $cdp_roles$
            begin
            {%- for role in roles %}
                if not exists (select from pg_roles where rolname = '{{ role }}') then
                    begin
                        create role {{ role }} nologin;
                    exception when duplicate_object or unique_violation then
                        null;  -- created by another session meanwhile
                    end;
                end if;
            {%- endfor %}
            {%- for grantee in roles %}
            {%- for schema in usage[grantee] | sort %}
                create schema if not exists {{ schema }};
                if not has_schema_privilege('{{ grantee }}', '{{ schema }}', 'usage') then
                    grant usage on schema {{ schema }} to {{ grantee }};
                end if;
            {%- endfor %}
            {%- endfor %}
            end
            $cdp_roles$
        {%- endset -%}
        {% do run_query(statements) %}
    {%- endif -%}
{%- endmacro %}
