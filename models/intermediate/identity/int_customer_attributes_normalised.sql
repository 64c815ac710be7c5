{#-
    Profile attributes written one way, so equal values count as one in the golden record's
    survivorship: names through normalise_name (one-case names title-cased, spaces
    collapsed), country and postal code upper case. Email and phone are normalised already.
    Append-only, as int_customer_attributes_unioned.
-#}
{{ config(**cdp.new_loads_config()) }}
with

attributes as (
    select * from {{ ref('int_customer_attributes_unioned') }}
    where {{ cdp.loaded_since_last_build('loaded_at') }}
),

normalised as (
    select
        source,
        source_record_id,
        attribute,
        case
            when attribute in ('first_name', 'last_name') then {{ cdp.normalise_name('attribute_value') }}
            when attribute in ('country', 'postal_code') then upper(attribute_value)
            else attribute_value
        end as attribute_value,
        seen_at,
        loaded_at
    from attributes
)

select * from normalised
