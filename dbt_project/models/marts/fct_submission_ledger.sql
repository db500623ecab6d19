{# What was sent where: one row per record version per batch, with its latest
   state (written, sent, accepted, rejected) and the body's message. Read from
   the append-only ledger (int_submission_versions_latest); this table is
   rebuilt, the ledger never is. #}
with versions as (select * from {{ ref('int_submission_versions_latest') }}),

final as (
    select
        batch_id,
        body,
        record_key,
        record_action,
        record_hash,
        state,
        body_message,
        file_name,
        file_sha256,
        transport,
        written_at,
        written_on,
        last_event_at
    from versions
)

select * from final
