{#-
    Fails for values that the identity rule (macros/identity/normalise_identifier.sql)
    would change or reject: a column of normalised identifiers must equal the rule applied
    to itself. Nulls pass. Phones must carry their calling code ('+...'): the rule gets no
    country here.

        columns:
          - name: phone
            data_tests:
              - is_normalised_identifier:
                  arguments:
                    identifier_type: phone

    This is where the format of normalised emails and phones is checked, so that no
    second copy of the rule (a regular expression in a Great Expectations suite) can
    drift from it.
-#}
{% test is_normalised_identifier(model, column_name, identifier_type) %}

{%- set no_country = "cast(null as " ~ dbt.type_string() ~ ")" %}

with

checked as (
    select {{ column_name }} as checked_value
    from {{ model }}
    where {{ column_name }} is not null
),

renormalised as (
    select
        checked_value,
        {{ cdp.normalise_identifier("'" ~ identifier_type ~ "'", 'checked_value', no_country, no_country) }}
            as rule_value
    from checked
),

final as (
    select *
    from renormalised
    where rule_value is null or rule_value <> checked_value
)

select * from final

{% endtest %}
