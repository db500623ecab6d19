{# The latest ledger event of each record version in each batch: the one place the
   project reads "where a version stands" from the append-only ledger.
   fct_submission_ledger shows these rows; int_submissions_tracked combines a
   version's batches (latest event first) into its standing at the body;
   fct_submission_versions_current (a view, so always as current as the ledger)
   is what the Python ledger writers read (export recovery, held versions, HTTP
   delivery, receipts, discards): none of them reads the ledger's events itself.
   is_discarded: staff discarded the batch's file (`cme batches discard`).
   message_event_id, file_event_id and payload_event_id say which event the
   message, file name and payload come from (each the latest that has one), so the batches of a version combine to the same answer
   as its events would. last_event_message is the latest event's own message
   (null when that event has none: an acceptance after a rejection has none).
   The is_ / has_ flags say what any event of the version in this batch was. #}
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
        {# messages are never blank in the ledger (cme.ledger.event_rows stores none as null) #}
        nullif({{ arg_max("coalesce(message, '')", ['event_id']) }}, '') as last_event_message,
        {{ arg_max('file_name', ['event_id'], filter='file_name is not null') }} as file_name,
        max(event_id) filter (where file_name is not null) as file_event_id,
        {{ arg_max('file_sha256', ['event_id'], filter='file_sha256 is not null') }} as file_sha256,
        {{ arg_max('transport', ['event_id'], filter='transport is not null') }} as transport,
        {{ arg_max('payload', ['event_id'], filter='payload is not null') }} as payload,
        max(event_id) filter (where payload is not null) as payload_event_id,
        {{ arg_max('body_reference', ['event_id'], filter='body_reference is not null') }} as body_reference,
        min(event_at) filter (where event = 'written') as written_at,
        min(run_date) filter (where event = 'written') as written_on,
        min(event_id) filter (where event = 'written') as first_written_event_id,
        max(file_name) filter (where event = 'written') as written_file_name,
        max(transport) filter (where event = 'prepared') as prepared_transport,
        min(run_date) as first_event_on,
        max(event_at) as last_event_at,
        coalesce(bool_or(event = 'prepared'), false) as is_prepared,
        coalesce(bool_or(event in ('written', 'abandoned')), false) as is_written_or_abandoned,
        coalesce(bool_or(event = 'written' and coalesce(transport, 'file') = 'file'), false)
            as is_written_to_file,
        coalesce(bool_or(event = 'written' and transport = 'http'), false) as is_written_for_http,
        coalesce(bool_or(event in ('sending', 'sent')), false) as has_http_request,
        coalesce(bool_or(event in ('accepted', 'rejected') and transport = 'http'), false)
            as is_answered_over_http,
        coalesce(bool_or(event in ('sending', 'sent', 'accepted', 'rejected')), false)
            as is_sent_or_answered,
        coalesce(bool_or(event = 'discarded'), false) as is_discarded
    from events
    group by batch_id, body, record_key, record_action, record_hash
)

select * from final
