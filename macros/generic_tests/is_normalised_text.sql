{#-
    Fails for values that staging should have cleaned: leading or trailing
    spaces, empty strings, and (with case='lower' or 'upper') the wrong case.
    Nulls pass.

        columns:
          - name: email
            data_tests:
              - is_normalised_text:
                  arguments:
                    case: lower
-#}
{% test is_normalised_text(model, column_name, case=none) %}

{%- if case not in (none, 'lower', 'upper') -%}
    {{ exceptions.raise_compiler_error("is_normalised_text: case must be lower, upper or none, got " ~ case) }}
{%- endif %}

with

checked as (
    select {{ column_name }} as checked_value
    from {{ model }}
    where {{ column_name }} is not null
),

final as (
    select *
    from checked
    where
        checked_value = ''
        or checked_value <> trim(checked_value)
        {%- if case is not none %}
        or checked_value <> {{ case }}(checked_value)
        {%- endif %}
)

select * from final

{% endtest %}
