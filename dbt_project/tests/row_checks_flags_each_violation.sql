-- The row_checks generic test (tests/generic/row_checks.sql) replaced ~270 column tests, so it
-- must itself be right: on a fixture with one violation of each kind it must return exactly the
-- failing keys with the right counts, and on clean rows nothing. This test returns the
-- difference between what row_checks returns and what it must return (empty = correct).
{%- set checks = {
    'unique_key': ['id'],
    'also_unique': [['amount']],
    'not_null': ['name'],
    'accepted_values': {'kind': ['x', 'y']},
    'expressions': {'positive': 'amount > 0'},
} -%}
{%- set fixture -%}
(select * from (values
    (1, 'a', 'x', 10),
    (2, 'b', 'x', 20),
    (2, 'b', 'y', 30),
    (3, cast(null as string), 'x', 40),
    (4, 'c', 'z', 50),
    (5, 'd', 'x', -1),
    (6, 'e', 'y', 10),
    (7, 'f', cast(null as string), 70)
) as t(id, name, kind, amount)) as fixture
{%- endset -%}
{%- set clean -%}
(select * from (values (1, 'a', 'x', 10), (2, 'b', cast(null as string), 20)) as t(id, name, kind, amount)) as clean
{%- endset %}

with actual as (
    {{ test_row_checks(model=fixture, **checks) }}
),

-- id, null_name, unaccepted_kind, false_positive, duplicate_amount, rows_per_key
expected as (
    select * from (values
        (1, 0, 0, 0, 1, 1),  -- amount 10 again on id 6 (also_unique)
        (2, 0, 0, 0, 0, 2),  -- two rows with id 2 (unique_key)
        (3, 1, 0, 0, 0, 1),  -- name NULL (not_null)
        (4, 0, 1, 0, 0, 1),  -- kind 'z' (accepted_values; id 7's NULL kind passes)
        (5, 0, 0, 1, 0, 1),  -- amount -1 (expressions)
        (6, 0, 0, 0, 1, 1)   -- amount 10 again on id 1
    ) as t(id, null_name, unaccepted_kind, false_positive, duplicate_amount, rows_per_key)
),

clean_result as (
    {{ test_row_checks(model=clean, **checks) }}
),

differences as (
    select 'missing' as problem, * from (select * from expected except select * from actual) as m
    union all
    select 'unexpected', * from (select * from actual except select * from expected) as u
    union all
    select 'clean rows flagged', * from clean_result
)

select * from differences
