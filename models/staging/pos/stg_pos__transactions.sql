with

source as (
    select * from {{ source('pos', 'transactions') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(transaction_id), '') as transaction_id,
        nullif(trim(store_id), '') as store_id,
        nullif(trim(register_id), '') as register_id,
        nullif(trim(loyalty_card_id), '') as loyalty_card_id,
        cast(transacted_at as timestamp) as transacted_at,
        cast(items_count as integer) as item_count,
        cast(total_amount as decimal(18, 2)) as total_amount,
        upper(nullif(trim(currency), '')) as currency_code,
        lower(nullif(trim(payment_method), '')) as payment_method,
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
        transaction_id,
        store_id,
        register_id,
        loyalty_card_id,
        transacted_at,
        item_count,
        total_amount,
        currency_code,
        payment_method,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
