with

source as (
    select * from {{ source('email', 'events') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(event_id), '') as email_event_id,
        lower(nullif(trim(email), '')) as email,
        lower(nullif(trim(event_type), '')) as event_type,
        nullif(trim(campaign_id), '') as campaign_id,
        nullif(trim(campaign_name), '') as campaign_name,
        cast(occurred_at as timestamp) as event_at,
        nullif(trim(link_url), '') as link_url,
        lower(nullif(trim(bounce_type), '')) as bounce_type,
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
        email_event_id,
        email,
        event_type,
        campaign_id,
        campaign_name,
        event_at,
        link_url,
        bounce_type,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
