{#-
    JSONPath for a dotted path: 'page.path' -> '$."page"."path"'. Keys are quoted
    so keys with dashes or spaces work. Helper of json_extract_text.
-#}
{% macro json_path(path) -%}
    {%- set quoted = [] -%}
    {%- for key in path.split('.') -%}
        {%- do quoted.append('"' ~ key ~ '"') -%}
    {%- endfor -%}
    $.{{ quoted | join('.') }}
{%- endmacro %}

{#-
    Postgres text-array path for a dotted path: 'page.path' -> '{"page","path"}', for the
    #> and #>> operators. Helper of json_extract_text and json_extract_json.
-#}
{% macro pg_json_path(path) -%}
    {%- set keys = [] -%}
    {%- for key in path.split('.') -%}
        {%- do keys.append('"' ~ key ~ '"') -%}
    {%- endfor -%}
    '{ {{- keys | join(',') -}} }'
{%- endmacro %}
