{# Every body record, one row per record version in the body marts: the PARS
   (or JA-PARS) learner records, CE Broker and CPE Monitor records, and the
   PARS activity records, with the columns every reader shares (who, what,
   when, how much, where it stands). The one union of the body marts: the
   exceptions, the run summary, transcripts, the dashboard, retention and the
   audit read it rather than each writing its own. The fields a body receives
   stay in its own mart (source_mart names it). #}
with pars as (select * from {{ ref('fct_pars_records') }}),
cebroker as (select * from {{ ref('fct_cebroker_records') }}),
cpe as (select * from {{ ref('fct_cpe_monitor_records') }}),
pars_activities as (select * from {{ ref('fct_pars_activities') }}),

unioned as (
    select
        'fct_pars_records' as source_mart,
        'learner' as record_kind,
        body,
        record_key,
        record_action,
        record_hash,
        person_id,
        activity_id,
        completed_on,
        cast(null as bigint) as reporting_year,
        board,
        cast(null as varchar) as uan,
        cast(null as varchar) as license_state,
        coalesce(cme_credits, 0) + coalesce(ipce_credits, 0) > 0 or board is null as carries_cme,
        cast(coalesce(cme_credits, 0) + coalesce(ipce_credits, 0) as decimal(9, 2)) as credits,
        total_board_credits as board_credits,
        due_on,
        window_closes_on,
        error_codes,
        submission_state,
        written_on,
        body_message
    from pars
    union all
    select
        'fct_cebroker_records',
        'learner',
        body,
        record_key,
        record_action,
        record_hash,
        person_id,
        activity_id,
        completed_on,
        cast(null as bigint),
        cast(null as varchar),
        cast(null as varchar),
        state,
        true,
        credit_hours,
        cast(null as decimal(9, 2)),
        due_on,
        window_closes_on,
        error_codes,
        submission_state,
        written_on,
        body_message
    from cebroker
    union all
    select
        'fct_cpe_monitor_records',
        'learner',
        body,
        record_key,
        record_action,
        record_hash,
        person_id,
        activity_id,
        completed_on,
        cast(null as bigint),
        cast(null as varchar),
        uan,
        cast(null as varchar),
        true,
        contact_hours,
        cast(null as decimal(9, 2)),
        due_on,
        window_closes_on,
        error_codes,
        submission_state,
        written_on,
        body_message
    from cpe
    union all
    select
        'fct_pars_activities',
        'activity',
        body,
        record_key,
        record_action,
        record_hash,
        person_id,
        activity_id,
        cast(null as date),
        reporting_year,
        cast(null as varchar),
        cast(null as varchar),
        cast(null as varchar),
        cast(null as boolean),
        cast(null as decimal(9, 2)),
        cast(null as decimal(9, 2)),
        due_on,
        window_closes_on,
        error_codes,
        submission_state,
        written_on,
        body_message
    from pars_activities
),

final as (
    select
        record_key || '|' || record_action || '|' || record_hash as body_record_id,
        *
    from unioned
)

select * from final
