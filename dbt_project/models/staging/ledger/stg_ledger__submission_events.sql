with source as (select * from {{ source('ledger', 'submission_events') }}),

final as (
    select
        event_id,
        batch_id,
        body,
        record_key,
        record_action,
        record_hash,
        event,
        message,
        file_name,
        file_sha256,
        transport,
        run_date,
        event_at,
        payload,
        body_reference
    from source
)

select * from final
