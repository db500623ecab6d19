{# Identity resolution (rules section 2): accounts sharing any strong key belong to
   one person, transitively. This is today's grouping only: the person id a group
   carries is assigned, and kept across merges, by int_person_ids_assigned.
   fresh_person_id is the id a group gets when none of its accounts has one yet
   (derived from the smallest learner_id, so unrelated accounts never change it). #}
with recursive learners as (select * from {{ ref('int_learners_deduplicated') }}),
licenses as (select * from {{ ref('int_learner_licenses_deduplicated') }}),
boards as (select * from {{ ref('int_learner_board_ids_deduplicated') }}),

strong_keys as (
    select
        learner_id,
        'npi:' || npi as strong_key
    from learners
    where {{ is_valid_npi('npi') }}
    union
    select
        learner_id,
        'license:' || state || ':' || upper(trim(license_number))
    from licenses
    union
    select
        learner_id,
        'board:' || board || ':' || upper(trim(board_id))
    from boards
    where nullif(trim(board_id), '') is not null
    union
    select
        learner_id,
        'email:' || lower(trim(email)) || ':' || lower(trim(last_name))
    from learners
    where nullif(trim(email), '') is not null
),

edges as (
    select
        a.learner_id as from_id,
        b.learner_id as to_id
    from strong_keys as a
    inner join strong_keys as b on a.strong_key = b.strong_key
    union
    select
        learner_id as from_id,
        learner_id as to_id
    from learners
),

reachable (from_id, to_id) as (
    select
        from_id,
        to_id
    from edges
    union
    select
        r.from_id,
        e.to_id
    from reachable as r
    inner join edges as e on r.to_id = e.from_id
),

final as (
    select
        from_id as learner_id,
        min(to_id) as anchor_learner_id,
        'P-' || substr(md5(min(to_id)), 1, 12) as fresh_person_id
    from reachable
    where from_id in (select learners.learner_id from learners)
    group by from_id
)

select * from final
