{# Where each record stands at its body, from the ledger: one row per
   (body, record_key, record_hash), i.e. per version of a record's content.
   A version is live at the body when its latest Add event is written, sending
   (in flight or in doubt), sent (awaiting the body's answer) or accepted, and
   no Delete of it was written later.
   A key that names a person id since retired by a merge is read with the
   person's current id (int_person_id_aliases): what was sent for either
   account is the merged person's, and is neither re-sent nor withdrawn.
   A batch discarded by staff (its file never reached the body: `cme batches
   discard`) is as if never written: its records' events in that batch are left
   out, so they are not live, and pending again unless another batch holds them.
   Abandoned records stay in, at state `abandoned`: not live either.
   A record whose completions retention purged (`cme retention --apply`) is
   `is_retired`: it stays where it stands at the body, and is never withdrawn
   or flagged for correction because its evidence is gone. #}
with batch_versions as (
    {# a discarded batch's versions are left out: as if never written #}
    select * from {{ ref('int_submission_versions_latest') }}
    where not is_discarded
),
aliases as (select * from {{ ref('int_person_id_aliases') }}),
retired_records as (select * from {{ ref('stg_retention__retired_records') }}),

versions as (
    select
        batch_versions.*,
        {{ key_with_current_person('batch_versions.record_key', 'aliases') }} as tracked_key
    from batch_versions
    left join aliases on aliases.alias_person_id = split_part(batch_versions.record_key, '|', 2)
),

retired as (
    select distinct
        retired_records.body,
        {{ key_with_current_person('retired_records.record_key', 'aliases') }} as record_key
    from retired_records
    left join aliases on aliases.alias_person_id = split_part(retired_records.record_key, '|', 2)
),

{# a version's batches combined: the latest event of any batch wins #}
latest as (
    select
        body,
        tracked_key as record_key,
        record_hash,
        record_action,
        {{ arg_max('state', ['last_event_id']) }} as state,
        max(last_event_id) as last_event_id,
        {{ arg_max('body_message', ['message_event_id']) }} as message,
        min(written_at) as written_at,
        min(written_on) as written_on,
        {{ arg_max('file_name', ['file_event_id']) }} as file_name,
        {{ arg_max('payload', ['payload_event_id']) }} as payload
    from versions
    group by body, tracked_key, record_hash, record_action
),

final as (
    select
        adds.body,
        adds.record_key,
        coalesce(person_aliases.person_id, {{ json_text('adds.payload', 'person_id') }}) as person_id,
        {{ json_text('adds.payload', 'activity_id') }} as activity_id,
        {{ json_text('adds.payload', 'content_hash') }} as content_hash,
        adds.record_hash,
        adds.state as add_state,
        adds.message,
        adds.written_at,
        adds.written_on,
        adds.file_name,
        adds.payload,
        deletes.state as delete_state,
        adds.state in ('written', 'sending', 'sent', 'accepted')
        and not coalesce(
            deletes.state in ('written', 'sending', 'sent', 'accepted')
            and deletes.last_event_id > adds.last_event_id, false
        ) as is_live,
        adds.state = 'rejected' as is_rejected,
        retired.record_key is not null as is_retired
    from latest as adds
    left join latest as deletes
        on
            deletes.record_action = 'Delete'
            and adds.body = deletes.body
            and adds.record_key = deletes.record_key
            and adds.record_hash = deletes.record_hash
    left join aliases as person_aliases
        on person_aliases.alias_person_id = {{ json_text('adds.payload', 'person_id') }}
    left join retired
        on adds.body = retired.body and adds.record_key = retired.record_key
    where adds.record_action = 'Add'
)

select * from final
