with

source as (
    select * from {{ source('consent', 'records') }}
    where {{ cdp.loaded_since_last_build() }}
),

renamed as (
    select
        nullif(trim(consent_id), '') as consent_id,
        lower(nullif(trim(subject_type), '')) as subject_type,
        nullif(trim(subject_id), '') as subject_id,
        lower(nullif(trim(channel), '')) as channel,
        lower(nullif(trim(purpose), '')) as purpose,
        lower(nullif(trim(status), '')) as consent_status,
        cast(recorded_at as timestamp) as recorded_at,
        lower(nullif(trim(collection_point), '')) as collection_point,
        nullif(trim(policy_version), '') as policy_version,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from source
),

email_subjects_lowered as (
    select
        consent_id,
        subject_type,
        case
            when subject_type = 'email' then lower(subject_id)
            else subject_id
        end as subject_id,
        channel,
        purpose,
        consent_status,
        recorded_at,
        collection_point,
        policy_version,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from renamed
),

deduplicated as (
    {{ cdp.first_loads_not_built('email_subjects_lowered') }}
),

final as (
    select
        consent_id,
        subject_type,
        subject_id,
        channel,
        purpose,
        consent_status,
        recorded_at,
        collection_point,
        policy_version,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from deduplicated
)

select * from final
