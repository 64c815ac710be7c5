with

source as (
    select * from {{ source('loyalty', 'members') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(member_id), '') as member_id,
        nullif(trim(loyalty_card_id), '') as loyalty_card_id,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        lower(nullif(trim(email), '')) as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(postal_code), '') as postal_code,
        cast(birth_date as date) as birth_date,
        lower(nullif(trim(tier), '')) as loyalty_tier,
        cast(points_balance as integer) as points_balance,
        cast(joined_at as timestamp) as joined_at,
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
        member_id,
        loyalty_card_id,
        first_name,
        last_name,
        email,
        phone,
        postal_code,
        birth_date,
        loyalty_tier,
        points_balance,
        joined_at,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
