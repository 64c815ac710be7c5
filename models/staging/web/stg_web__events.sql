{#-
    Incremental: a build reads only raw rows loaded since the newest staged row, and keeps
    the first-loaded copy of each record (a later copy of a staged record is dropped), so
    it holds the same rows as a full refresh. Downstream models read a table, not the
    raw payload.
-#}
{{ config(materialized='incremental', on_schema_change='fail', tags=['incremental']) }}

with

source as (
    select * from {{ source('web', 'events') }}
    where {{ cdp.loaded_since_last_build('_loaded_at') }}
),

renamed as (
    select
        nullif(trim(message_id), '') as event_id,
        lower(nullif(trim(event_type), '')) as event_type,
        nullif(trim(event_name), '') as event_name,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(user_id), '') as user_id,
        cast(event_timestamp as timestamp) as event_at,
        cast(sent_at as timestamp) as sent_at,
        -- stored once, in the payload
        {{ cdp.json_extract_json('payload', 'traits') }} as traits,
        {{ cdp.json_extract_json('payload', 'properties') }} as properties,
        {{ cdp.json_extract_json('payload', 'context') }} as context,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from source
),

first_loaded as (
    {{ cdp.first_load_per_record('renamed') }}
),

deduplicated as (
    select *
    from first_loaded
    where {{ cdp.not_built_yet('event_id', 'first_loaded') }}
),

json_fields_extracted as (
    select
        *,
        coalesce(
            {{ cdp.json_extract_text('traits', 'email') }},
            {{ cdp.json_extract_text('context', 'traits.email') }}
        ) as trait_email,
        coalesce(
            {{ cdp.json_extract_text('traits', 'firstName') }},
            {{ cdp.json_extract_text('traits', 'first_name') }},
            {{ cdp.json_extract_text('context', 'traits.firstName') }},
            {{ cdp.json_extract_text('context', 'traits.first_name') }}
        ) as trait_first_name,
        coalesce(
            {{ cdp.json_extract_text('traits', 'lastName') }},
            {{ cdp.json_extract_text('traits', 'last_name') }},
            {{ cdp.json_extract_text('context', 'traits.lastName') }},
            {{ cdp.json_extract_text('context', 'traits.last_name') }}
        ) as trait_last_name,
        coalesce(
            {{ cdp.json_extract_text('traits', 'phone') }},
            {{ cdp.json_extract_text('context', 'traits.phone') }}
        ) as trait_phone,
        coalesce(
            {{ cdp.json_extract_text('context', 'page.path') }},
            {{ cdp.json_extract_text('properties', 'path') }}
        ) as context_page_path,
        coalesce(
            {{ cdp.json_extract_text('context', 'page.url') }},
            {{ cdp.json_extract_text('properties', 'url') }}
        ) as context_page_url,
        coalesce(
            {{ cdp.json_extract_text('context', 'page.referrer') }},
            {{ cdp.json_extract_text('properties', 'referrer') }}
        ) as context_page_referrer,
        {{ cdp.json_extract_text('context', 'ip') }} as context_ip,
        {{ cdp.json_extract_text('context', 'userAgent') }} as context_user_agent,
        {{ cdp.json_extract_text('properties', 'product_id') }} as property_product_id,
        {{ cdp.json_extract_text('properties', 'order_id') }} as property_order_id,
        {{ cdp.json_extract_text('properties', 'revenue') }} as property_revenue,
        {{ cdp.json_extract_text('properties', 'price') }} as property_price
    from deduplicated
),

json_fields_cleaned as (
    select
        *,
        lower(nullif(trim(trait_email), '')) as email,
        nullif(trim(trait_first_name), '') as first_name,
        nullif(trim(trait_last_name), '') as last_name,
        nullif(trim(trait_phone), '') as phone,
        nullif(trim(context_page_path), '') as page_path,
        nullif(trim(context_page_url), '') as page_url,
        nullif(trim(context_page_referrer), '') as page_referrer,
        nullif(trim(context_ip), '') as ip_address,
        nullif(trim(context_user_agent), '') as user_agent,
        nullif(trim(property_product_id), '') as product_id,
        nullif(trim(property_order_id), '') as order_id,
        {{ cdp.try_cast('property_revenue', 'decimal(18, 2)') }} as revenue,
        {{ cdp.try_cast('property_price', 'decimal(18, 2)') }} as price
    from json_fields_extracted
),

final as (
    select
        event_id,
        event_type,
        event_name,
        anonymous_id,
        user_id,
        event_at,
        sent_at,
        email,
        first_name,
        last_name,
        phone,
        page_path,
        page_url,
        page_referrer,
        ip_address,
        user_agent,
        product_id,
        order_id,
        revenue,
        price,
        traits,
        properties,
        context,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from json_fields_cleaned
)

select * from final
