with

source as (
    select * from {{ source('shop', 'orders') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(order_id), '') as order_id,
        nullif(trim(shop_customer_id), '') as shop_customer_id,
        lower(nullif(trim(email), '')) as email,
        nullif(trim(phone), '') as phone,
        cast(ordered_at as timestamp) as ordered_at,
        lower(nullif(trim(status), '')) as order_status,
        upper(nullif(trim(currency), '')) as currency_code,
        cast(subtotal as decimal(18, 2)) as subtotal_amount,
        cast(shipping as decimal(18, 2)) as shipping_amount,
        cast(tax as decimal(18, 2)) as tax_amount,
        cast(total as decimal(18, 2)) as total_amount,
        nullif(trim(ship_name), '') as ship_name,
        nullif(trim(ship_street), '') as ship_street,
        nullif(trim(ship_city), '') as ship_city,
        nullif(trim(ship_region), '') as ship_region,
        nullif(trim(ship_postal_code), '') as ship_postal_code,
        upper(nullif(trim(ship_country), '')) as ship_country,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from source
),

deduplicated as (
    {{ cdp.first_loads_not_built('renamed') }}
),

final as (
    select
        order_id,
        shop_customer_id,
        email,
        phone,
        ordered_at,
        order_status,
        currency_code,
        subtotal_amount,
        shipping_amount,
        tax_amount,
        total_amount,
        ship_name,
        ship_street,
        ship_city,
        ship_region,
        ship_postal_code,
        ship_country,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
