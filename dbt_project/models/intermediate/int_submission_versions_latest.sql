{# The latest ledger event of each record version in each batch: the one place
   the project reads "where a version stands" from the append-only ledger.
   fct_submission_ledger shows these rows; int_submissions_tracked combines a
   version's batches (latest event first) into its standing at the body.
   is_discarded: staff discarded the batch's file (`cme batches discard`).
   message_event_id, file_event_id and payload_event_id say which event the
   message, file name and payload come from (each the latest that has one), so the batches of a version combine to the same answer
   as its events would. #}
with events as (select * from {{ ref('stg_ledger__submission_events') }}),

final as (
    select
        batch_id,
        body,
        record_key,
        record_action,
        record_hash,
        {{ arg_max('event', ['event_id']) }} as state,
        max(event_id) as last_event_id,
        {{ arg_max('message', ['event_id']) }} as body_message,
        max(event_id) filter (where message is not null) as message_event_id,
        {{ arg_max('file_name', ['event_id'], filter='file_name is not null') }} as file_name,
        max(event_id) filter (where file_name is not null) as file_event_id,
        {{ arg_max('file_sha256', ['event_id'], filter='file_sha256 is not null') }} as file_sha256,
        {{ arg_max('transport', ['event_id'], filter='transport is not null') }} as transport,
        {{ arg_max('payload', ['event_id'], filter='payload is not null') }} as payload,
        max(event_id) filter (where payload is not null) as payload_event_id,
        min(event_at) filter (where event = 'written') as written_at,
        min(run_date) filter (where event = 'written') as written_on,
        max(event_at) as last_event_at,
        coalesce(bool_or(event = 'discarded'), false) as is_discarded
    from events
    group by batch_id, body, record_key, record_action, record_hash
)

select * from final
