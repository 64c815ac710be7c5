{#-
    A person's name as written for display and comparison: trimmed, inner runs of
    white space collapsed, and typed-in-one-case names ('MARIE', 'marie') title-cased.
    Mixed-case names ('McDonald', 'van der Berg') are kept as written.
-#}
{% macro normalise_name(expression) -%}
    {%- set cleaned = "nullif(regexp_replace(trim(" ~ expression ~ "), '[[:space:]]+', ' ', 'g'), '')" -%}
    case
        when {{ cleaned }} = upper({{ cleaned }}) or {{ cleaned }} = lower({{ cleaned }})
            then {{ cdp.initcap(cleaned) }}
        else {{ cleaned }}
    end
{%- endmacro %}
