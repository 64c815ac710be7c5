with

source as (
    select * from {{ source('support', 'tickets') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(ticket_id), '') as ticket_id,
        lower(nullif(trim(requester_email), '')) as requester_email,
        nullif(trim(requester_name), '') as requester_name,
        nullif(trim(requester_phone), '') as requester_phone,
        lower(nullif(trim(channel), '')) as channel,
        nullif(trim(subject), '') as subject,
        lower(nullif(trim(status), '')) as ticket_status,
        lower(nullif(trim(priority), '')) as ticket_priority,
        cast(created_at as timestamp) as created_at,
        cast(resolved_at as timestamp) as resolved_at,
        cast(satisfaction_score as integer) as satisfaction_score,
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
        ticket_id,
        requester_email,
        requester_name,
        requester_phone,
        channel,
        subject,
        ticket_status,
        ticket_priority,
        created_at,
        resolved_at,
        satisfaction_score,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
