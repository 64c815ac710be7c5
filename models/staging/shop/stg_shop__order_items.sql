with

source as (
    select * from {{ source('shop', 'order_items') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(order_id), '') as order_id,
        cast(line_number as integer) as line_number,
        nullif(trim(sku), '') as sku,
        nullif(trim(product_name), '') as product_name,
        nullif(trim(category), '') as product_category,
        cast(quantity as integer) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from source
),

key_and_amount_added as (
    select
        *,
        {{ dbt.concat(["order_id", "'-'", "cast(line_number as " ~ dbt.type_string() ~ ")"]) }} as order_item_id,
        cast(quantity * unit_price as decimal(18, 2)) as line_amount
    from renamed
),

deduplicated as (
    {{ cdp.first_loads_not_built('key_and_amount_added') }}
),

final as (
    select
        order_item_id,
        order_id,
        line_number,
        sku,
        product_name,
        product_category,
        quantity,
        unit_price,
        line_amount,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
