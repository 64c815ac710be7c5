with

source as (
    select * from {{ source('crm', 'contacts') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        lower(nullif(trim(email), '')) as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(street), '') as street,
        nullif(trim(city), '') as city,
        nullif(trim(region), '') as region,
        nullif(trim(postal_code), '') as postal_code,
        upper(nullif(trim(country), '')) as country,
        lower(nullif(trim(lifecycle_stage), '')) as lifecycle_stage,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
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
        contact_id,
        first_name,
        last_name,
        email,
        phone,
        street,
        city,
        region,
        postal_code,
        country,
        lifecycle_stage,
        created_at,
        updated_at,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
