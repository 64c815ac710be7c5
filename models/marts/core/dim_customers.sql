{#-
    The golden record: one row per customer, each attribute chosen among the customer's
    source records by the survivorship rule of seeds/identity/identity_survivorship_rules.csv.
    Incremental: the changed customers are built again (macros/identity/customer_scope.sql).
-#}
{{ config(**cdp.customer_scope_config()) }}
-- depends_on: {{ ref('int_identity_scope_customers') }}
with

records as (
    {{ cdp.customer_scoped(ref('bdg_customer_source_records')) }}
),

identifiers as (
    {{ cdp.customer_scoped(ref('bdg_customer_identifiers')) }}
),

customer_ids as (
    select distinct
        customer_id,
        customer_id_created_at
    from ({{ cdp.customer_scoped(ref('int_customer_ids_assigned')) }}) as assigned
),

attributes as (
    select
        source,
        source_record_id,
        attribute,
        attribute_value,
        seen_at
    from {{ ref('int_customer_attributes_normalised') }}
    union all
    -- email and phone: the kept identifiers, normalised already
    select
        source,
        source_record_id,
        identifier_type as attribute,  -- noqa: RF04
        identifier_value as attribute_value,
        seen_at
    from {{ ref('int_identifiers_kept') }}
    where identifier_type in ('email', 'phone')
),

rules as (
    select * from {{ ref('identity_survivorship_rules') }}
),

customer_attributes as (
    select
        records.customer_id,
        attributes.attribute,
        attributes.attribute_value,
        attributes.source,
        attributes.seen_at
    from attributes
    inner join records
        on
            attributes.source = records.source
            and attributes.source_record_id = records.source_record_id
),

value_stats as (
    select
        customer_attributes.customer_id,
        customer_attributes.attribute,
        customer_attributes.attribute_value,
        rules.rule,
        count(*) as times_seen,
        max(customer_attributes.seen_at) as last_seen_at,
        min(
            case
                when strpos(concat('|', rules.source_priority, '|'), concat('|', customer_attributes.source, '|')) > 0
                    then strpos(concat('|', rules.source_priority, '|'), concat('|', customer_attributes.source, '|'))
                else 100000
            end
        ) as source_rank
    from customer_attributes
    inner join rules on customer_attributes.attribute = rules.attribute
    group by
        customer_attributes.customer_id,
        customer_attributes.attribute,
        customer_attributes.attribute_value,
        rules.rule
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, attribute
            order by
                case when rule = 'most_frequent' then times_seen end desc nulls last,
                case when rule = 'source_priority' then source_rank end asc nulls last,
                case when rule = 'most_recent' then last_seen_at end desc nulls last,
                source_rank asc,
                last_seen_at desc nulls last,
                times_seen desc,
                attribute_value asc
        ) as value_rank
    from value_stats
),

golden as (
    select
        customer_id,
        max(case when attribute = 'email' then attribute_value end) as email,
        max(case when attribute = 'phone' then attribute_value end) as phone,
        max(case when attribute = 'first_name' then attribute_value end) as first_name,
        max(case when attribute = 'last_name' then attribute_value end) as last_name,
        max(case when attribute = 'street' then attribute_value end) as street,
        max(case when attribute = 'city' then attribute_value end) as city,
        max(case when attribute = 'region' then attribute_value end) as region,
        max(case when attribute = 'postal_code' then attribute_value end) as postal_code,
        max(case when attribute = 'country' then attribute_value end) as country,
        max(case when attribute = 'birth_date' then attribute_value end) as birth_date
    from ranked
    where value_rank = 1
    group by customer_id
),

record_stats as (
    select
        customer_id,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at,
        count(*) as source_record_count,
        count(distinct source) as source_count
    from records
    group by customer_id
),

customer_sources as (
    select
        customer_id,
        {{ cdp.string_agg_distinct('source', "', '") }} as sources
    from records
    group by customer_id
),

identifier_stats as (
    select
        customer_id,
        count(*) as identifier_count,
        sum(case when identifier_type = 'email' then 1 else 0 end) as email_count,
        sum(case when identifier_type = 'phone' then 1 else 0 end) as phone_count,
        sum(case when identifier_type = 'anonymous_id' then 1 else 0 end) as anonymous_id_count,
        sum(case when identifier_type = 'user_id' then 1 else 0 end) as user_id_count,
        sum(case when identifier_type = 'loyalty_card_id' then 1 else 0 end) as loyalty_card_count
    from identifiers
    group by customer_id
),

final as (
    select
        customer_ids.customer_id,
        customer_ids.customer_id_created_at,
        golden.email,
        golden.phone,
        golden.first_name,
        golden.last_name,
        golden.street,
        golden.city,
        golden.region,
        golden.postal_code,
        golden.country,
        cast(golden.birth_date as date) as birth_date,
        record_stats.first_seen_at,
        record_stats.last_seen_at,
        customer_sources.sources,
        record_stats.source_count,
        record_stats.source_record_count,
        identifier_stats.identifier_count,
        cast(identifier_stats.email_count as bigint) as email_count,
        cast(identifier_stats.phone_count as bigint) as phone_count,
        cast(identifier_stats.anonymous_id_count as bigint) as anonymous_id_count,
        cast(identifier_stats.user_id_count as bigint) as user_id_count,
        cast(identifier_stats.loyalty_card_count as bigint) as loyalty_card_count
    from customer_ids
    left join golden on customer_ids.customer_id = golden.customer_id
    left join record_stats on customer_ids.customer_id = record_stats.customer_id
    left join customer_sources on customer_ids.customer_id = customer_sources.customer_id
    left join identifier_stats on customer_ids.customer_id = identifier_stats.customer_id
)

select * from final
