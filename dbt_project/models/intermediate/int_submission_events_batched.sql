{# Ledger events folded per record version and batch: the latest event's state and
   message, the file and transport it went in, and when it was written. #}
with events as (select * from {{ ref('stg_ledger__submission_events') }}),

final as (
    select
        batch_id,
        body,
        record_key,
        record_action,
        record_hash,
        {{ arg_max('event', ['event_id']) }} as state,
        {{ arg_max('message', ['event_id']) }} as body_message,
        {{ arg_max('file_name', ['event_id'], filter='file_name is not null') }} as file_name,
        {{ arg_max('file_sha256', ['event_id'], filter='file_sha256 is not null') }} as file_sha256,
        {{ arg_max('transport', ['event_id'], filter='transport is not null') }} as transport,
        min(event_at) filter (where event = 'written') as written_at,
        min(run_date) filter (where event = 'written') as written_on,
        max(event_at) as last_event_at
    from events
    group by batch_id, body, record_key, record_action, record_hash
)

select * from final
