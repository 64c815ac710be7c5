{#-
    A phone number in E.164 ('+14155550123'), or null when it cannot be one.

    expression:    the number as typed, any punctuation.
    calling_code:  SQL for the calling code of the number's country ('1', '44'), used when
                   the number has no international prefix; the caller resolves it from the
                   record's country or `identity_phone_default_country`
                   (see seeds/identity/country_calling_codes.csv).
    trunk_prefix:  SQL for that country's national trunk prefix ('0' in the UK), dropped
                   before the calling code is added.
    digits:        SQL for phone_digits(expression) when the caller has it already (the
                   warehouse function computes it once: each copy of the regular expression
                   is compiled again whenever a query is planned).

    '+' or '00' starts an international number. North American numbers must have a
    valid area code and exchange (so '0000000000' is no number); others 8 to 15 digits.
-#}
{% macro normalise_phone(expression, calling_code, trunk_prefix, digits=none) -%}
    {%- set digits = digits or cdp.phone_digits(expression) -%}
    {%- set e164 -%}
        case
            when trim({{ expression }}) like '+%' then concat('+', {{ digits }})
            when {{ digits }} like '00%' then concat('+', substr({{ digits }}, 3))
            when {{ calling_code }} = '1' and length({{ digits }}) = 11 and {{ digits }} like '1%'
                then concat('+', {{ digits }})
            when {{ calling_code }} is null then null
            when {{ trunk_prefix }} is not null and {{ digits }} like concat({{ trunk_prefix }}, '%')
                then concat('+', {{ calling_code }}, substr({{ digits }}, length({{ trunk_prefix }}) + 1))
            else concat('+', {{ calling_code }}, {{ digits }})
        end
    {%- endset -%}
    {#- +1: a valid North American area code and exchange; other countries 8 to 15 digits -#}
    {{ cdp.regex_extract_match(e164, "'^[+](?:1[2-9][0-9]{2}[2-9][0-9]{6}|[2-9][0-9]{7,14})$'") }}
{%- endmacro %}

{#- The digits of a phone number as typed, nothing else. -#}
{% macro phone_digits(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '', 'g')
{%- endmacro %}
