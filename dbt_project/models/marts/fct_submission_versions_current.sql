{# Where each record version stands in each batch, as the ledger is now: a view over
   int_submission_versions_latest, so rows appended after the last dbt build show at
   once. The Python ledger writers read it (cme.ledger, export recovery, HTTP delivery,
   receipts, discards); fct_submission_ledger is the table that shows the same state
   as of the last build. #}
{{ config(materialized='view') }}

with versions as (select * from {{ ref('int_submission_versions_latest') }}),

final as (
    select
        batch_id,
        body,
        record_key,
        record_action,
        record_hash,
        state,
        last_event_id,
        last_event_message,
        body_reference,
        payload,
        first_event_on,
        written_on,
        first_written_event_id,
        written_file_name,
        prepared_transport,
        is_prepared,
        is_written_or_abandoned,
        is_written_to_file,
        is_written_for_http,
        has_http_request,
        is_answered_over_http,
        is_sent_or_answered,
        is_discarded
    from versions
)

select * from final
