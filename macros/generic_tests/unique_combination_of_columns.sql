{#-
    Fails for every combination of the given columns that occurs more than once
    (dbt-utils' test of the same name, which this project cannot install).

        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [order_id, line_number]
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grouped as (
    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as n_records
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
),

final as (
    select *
    from grouped
    where n_records > 1
)

select * from final

{% endtest %}
