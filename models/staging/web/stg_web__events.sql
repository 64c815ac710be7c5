{#- JSON in the payload: the objects kept as JSON, and the text fields (first path found) -#}
{%- set objects = ['traits', 'properties', 'context'] %}
{%- set texts = {
    'trait_email': ['traits.email', 'context.traits.email'],
    'trait_first_name': [
        'traits.firstName', 'traits.first_name', 'context.traits.firstName',
        'context.traits.first_name',
    ],
    'trait_last_name': [
        'traits.lastName', 'traits.last_name', 'context.traits.lastName',
        'context.traits.last_name',
    ],
    'trait_phone': ['traits.phone', 'context.traits.phone'],
    'context_page_path': ['context.page.path', 'properties.path'],
    'context_page_url': ['context.page.url', 'properties.url'],
    'context_page_referrer': ['context.page.referrer', 'properties.referrer'],
    'context_ip': ['context.ip'],
    'context_user_agent': ['context.userAgent'],
    'property_product_id': ['properties.product_id'],
    'property_order_id': ['properties.order_id'],
    'property_revenue': ['properties.revenue'],
    'property_price': ['properties.price'],
} %}
{%- set text_paths = texts.values() | sum(start=[]) %}

with

source as (
    select * from {{ source('web', 'events') }}
    where {{ cdp.loaded_since_last_build() }}
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
        -- stored once, in the payload; parsed once
        {{ cdp.json_extract_many('payload', objects, as_text=false) }} as json_objects,
        {{ cdp.json_extract_many('payload', text_paths) }} as json_texts,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from source
),

deduplicated as (
    {{ cdp.first_loads_not_built('renamed', wide_rows=true) }}
),

json_fields_extracted as (
    select
        *,
        {%- for name, paths in texts.items() %}
        {{ cdp.list_first_present('json_texts', paths, text_paths) }} as {{ name }},
        {%- endfor %}
        {{ cdp.list_element('json_objects', objects.index('traits') + 1) }} as traits,
        {{ cdp.list_element('json_objects', objects.index('properties') + 1) }} as properties,
        {{ cdp.list_element('json_objects', objects.index('context') + 1) }} as context
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
