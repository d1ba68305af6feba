-- One row per campaign (leads without a campaign as '(none)'; campaigns with cost but no leads
-- included): lead incidents, opportunities, won revenue and the campaign's cost over the period
-- of the data (cost dates from the first clock start's date to the as-of date), with cost per
-- lead / per opportunity and return on spend. Costs are summed as recorded (one currency assumed).
with incidents as (
    select lead_id as incident_lead_id, coalesce(campaign, '(none)') as campaign, clock_started_at, as_of_at
    from {{ ref('fct_lead_response') }}
),

period as (
    select cast(min(clock_started_at) as date) as period_start, cast(max(as_of_at) as date) as period_end
    from incidents
),

by_campaign as (
    select
        incidents.campaign,
        cast(count(*) as bigint) as leads,
        cast(sum(outcomes.has_opportunity) as bigint) as opportunities,
        cast(sum(outcomes.is_won) as bigint) as won_opportunities,
        sum(outcomes.won_amount) as revenue
    from incidents
    inner join {{ ref('int_incident_outcomes') }} as outcomes
        on outcomes.incident_lead_id = incidents.incident_lead_id
    group by incidents.campaign
),

costs as (
    select costs.campaign, sum(costs.cost) as cost
    from {{ ref('stg_campaign_costs') }} as costs
    cross join period
    where costs.cost_date between period.period_start and period.period_end
    group by costs.campaign
),

joined as (
    select
        coalesce(by_campaign.campaign, costs.campaign) as campaign,
        coalesce(by_campaign.leads, 0) as leads,
        coalesce(by_campaign.opportunities, 0) as opportunities,
        coalesce(by_campaign.won_opportunities, 0) as won_opportunities,
        cast(coalesce(by_campaign.revenue, 0) as double) as revenue,
        cast(costs.cost as double) as cost
    from by_campaign
    full outer join costs on costs.campaign = by_campaign.campaign
)

select
    joined.campaign,
    joined.leads,
    joined.opportunities,
    joined.won_opportunities,
    cast(joined.opportunities as double) / nullif(joined.leads, 0) as conversion_rate,
    joined.cost,
    joined.cost / nullif(joined.leads, 0) as cost_per_lead,
    joined.cost / nullif(joined.opportunities, 0) as cost_per_opportunity,
    joined.revenue,
    joined.revenue / nullif(joined.cost, 0) as return_on_spend,
    period.period_start,
    period.period_end,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from joined
cross join period
