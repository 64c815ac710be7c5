{#-
    True when the text `expression` contains one of the phrases of the var
    `cancel_intent_phrases` (dbt_project.yml), compared in lower case; false when it is null
    or the list is empty.

        {{ cdp.expresses_cancel_intent('tickets.subject') }}
-#}
{% macro expresses_cancel_intent(expression) -%}
    {%- set phrases = var('cancel_intent_phrases', []) -%}
    {%- if phrases | length == 0 -%}
        false
    {%- else -%}
        coalesce(
        {%- for phrase in phrases %}
            {% if not loop.first %}or {% endif -%}
            lower({{ expression }}) like {{ dbt.string_literal('%' ~ phrase | lower ~ '%') }}
        {%- endfor %}
        , false)
    {%- endif -%}
{%- endmacro %}
