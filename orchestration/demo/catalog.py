"""Static catalogue of the demo organisation: teams, regions, sources, people, phone plans.

Everything here is plain data; the generator (``generator.py``) turns it into files. Changing
a value here changes the demo data set (and so the manifest), nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPANY_DOMAIN = "brightpath-lending.example"
INTERNAL_TEST_DOMAIN = "speedlead-internal.test"
CRM_TIMEZONE = "America/New_York"

# --------------------------------------------------------------------------------------------
# Teams and regions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    team_id: str
    name: str
    timezone: str
    region: str  # the team's region (leads' regions route to it)
    country: str  # numbering plan of its own phone lines


TEAMS: tuple[Team, ...] = (
    Team("T-NYC", "East Coast Sales", "America/New_York", "us_east", "US"),
    Team("T-CHI", "Central Sales", "America/Chicago", "us_central", "US"),
    Team("T-LAX", "West Coast Sales", "America/Los_Angeles", "us_west", "US"),
    Team("T-LON", "UK Sales", "Europe/London", "uk", "GB"),
    Team("T-SYD", "ANZ Sales", "Australia/Sydney", "anz", "AU"),
    Team("T-247", "24/7 Inbound Desk", "America/New_York", "us_national", "US"),
)
TEAM_INDEX = {t.team_id: i for i, t in enumerate(TEAMS)}
TEAM_247 = TEAM_INDEX["T-247"]

# Lead regions: name, timezone of its people (seasonality is in their local time), share of
# leads, primary team, and country mix.
REGIONS = ("us_east", "us_central", "us_west", "uk", "anz")
REGION_TZ = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Australia/Sydney")
REGION_SHARE = (0.30, 0.18, 0.24, 0.15, 0.13)
REGION_TEAM = (TEAM_INDEX["T-NYC"], TEAM_INDEX["T-CHI"], TEAM_INDEX["T-LAX"], TEAM_INDEX["T-LON"], TEAM_INDEX["T-SYD"])
# Share of a region's leads the 24/7 desk takes instead of the regional team (US regions only).
REGION_247_SHARE = (0.12, 0.12, 0.12, 0.0, 0.0)
COUNTRIES = ("US", "CA", "GB", "AU")
COUNTRY_CURRENCY = ("USD", "CAD", "GBP", "AUD")
COUNTRY_CALLING_CODE = (1, 1, 44, 61)
# P(country | region), rows = regions, columns = COUNTRIES
REGION_COUNTRY_P = (
    (0.93, 0.07, 0.0, 0.0),
    (1.0, 0.0, 0.0, 0.0),
    (0.94, 0.06, 0.0, 0.0),
    (0.0, 0.0, 1.0, 0.0),
    (0.0, 0.0, 0.0, 1.0),
)

# Seasonality of lead arrivals in the lead's local time (multipliers, mean about 1 over a week).
HOUR_FACTOR = (
    0.12, 0.08, 0.06, 0.05, 0.06, 0.10, 0.22, 0.45, 0.85, 1.30, 1.60, 1.70,
    1.45, 1.40, 1.50, 1.40, 1.25, 1.05, 0.85, 0.75, 0.65, 0.50, 0.35, 0.20,
)
WEEKDAY_FACTOR = (1.12, 1.18, 1.12, 1.06, 0.92, 0.42, 0.36)  # Monday .. Sunday
HOLIDAY_FACTOR = 0.55  # lead volume on a public holiday of the region's team
GROWTH_PER_YEAR = 3.0  # lead volume triples over a year (the case study grew 5x)
SURGE_MULTIPLIER = 10.0
SURGE_HOURS = 4

# --------------------------------------------------------------------------------------------
# Sources, campaigns, scores
# --------------------------------------------------------------------------------------------

SOURCES = ("paid_search", "organic", "social", "referral", "partner", "display", "event")
SOURCE_P = (0.30, 0.20, 0.14, 0.10, 0.10, 0.08, 0.08)
WEB_SOURCES = (True, True, True, False, True, True, False)  # leads from a web form
FORM_PRESENT_P_WEB = 0.93
FORM_PRESENT_P_OTHER = 0.08
SCORE_MEAN_BY_SOURCE = (50, 52, 42, 68, 57, 38, 60)
SCORE_SD = 19.0
TIERS = ("cold", "warm", "hot")
TIER_BOUNDS = ((0, 39), (40, 69), (70, 100))

# (campaign, source index, weight within source, cost per lead in USD or None when unpaid)
CAMPAIGNS: tuple[tuple[str, int, float, float | None], ...] = (
    ("gs_brand_core", 0, 0.40, 38.0),
    ("gs_generic_loans", 0, 0.40, 55.0),
    ("bing_search_all", 0, 0.20, 42.0),
    ("meta_lookalike_q", 2, 0.65, 28.0),
    ("linkedin_leadgen", 2, 0.35, 61.0),
    ("customer_referral", 3, 1.00, None),
    ("partner_compare_rates", 4, 0.60, 64.0),
    ("partner_broker_network", 4, 0.40, 70.0),
    ("gdn_retargeting", 5, 0.55, 19.0),
    ("programmatic_prospecting", 5, 0.45, 24.0),
    ("expo_roadshow", 6, 0.50, 120.0),
    ("webinar_series", 6, 0.50, 45.0),
)
# organic leads carry no campaign

# --------------------------------------------------------------------------------------------
# The planted effect and the funnel parameters (all stored in the manifest)
# --------------------------------------------------------------------------------------------

# The planted effect's own buckets (the manifest records these labels and int seconds); a test checks the edges.
BUCKETS = (
    ("0-5m", 0, 300),
    ("5-15m", 300, 900),
    ("15-60m", 900, 3600),
    ("1-4h", 3600, 14400),
    ("4-24h", 14400, 86400),
    ("24h+/never", 86400, None),
)
BUCKET_ODDS_RATIO = (1.0, 0.75, 0.55, 0.40, 0.30, 0.20)
SOURCE_LOG_ODDS = {
    "paid_search": 0.0, "organic": 0.15, "social": -0.30, "referral": 0.55,
    "partner": 0.35, "display": -0.45, "event": 0.25,
}
TIER_LOG_ODDS = {"cold": -0.60, "warm": 0.0, "hot": 0.55}
CONVERSION_INTERCEPT = -1.60  # log-odds of the reference cell (0-5m, paid_search, warm)

# Optional A/B test (generate(experiment=True)): reps randomised to a push alert for new leads.
EXPERIMENT_ID = "new_lead_push_alert"
EXPERIMENT_ARMS = ("control", "push_alert")
EXPERIMENT_FIRST_ATTEMPT_RATIO = 0.70  # the alerted arm's first attempts come after 70 % of the time
EXPERIMENT_STREAM = 0xE1  # seeds the assignment's own random stream with the run's seed

# Outbound call outcome by time since the clock started (same buckets): P(connected).
CALL_CONNECT_P = (0.55, 0.48, 0.42, 0.35, 0.28, 0.22)
CALL_VOICEMAIL_SHARE_OF_UNCONNECTED = 0.55
# Among calls neither connected nor voicemail: no_answer, busy, failed
CALL_MISS_SPLIT = (0.74, 0.13, 0.13)
# P(appointment booked | contacted by a connected call, no opportunity) by response bucket
BOOKING_P_NO_OPP = (0.30, 0.26, 0.22, 0.18, 0.15, 0.12)
BOOKING_P_OPP = 0.75
# P(lead replies by SMS | received a delivered SMS) by response bucket
SMS_REPLY_P = (0.36, 0.31, 0.26, 0.21, 0.17, 0.13)
EMAIL_REPLY_P = 0.09
VOICEMAIL_CALLBACK_P = 0.12
NEVER_ATTEMPT_P = {"cold": 0.10, "warm": 0.05, "hot": 0.03}
ATTEMPT_GIVE_UP_P = 0.15  # after a non-qualifying attempt
MAX_ATTEMPTS = 6
FIRST_CHANNEL_P = (0.70, 0.18, 0.12)  # call, sms, email
FOLLOW_UP_MEAN = {"converted": 5.0, "other": 3.6}
FOLLOW_UP_CHANNEL_P = (0.50, 0.30, 0.20)

# Human response time model (business time of the owner's schedule):
# minutes ~ LogNormal(rep_mu + tier_shift + LOAD_ELASTICITY * log(load_ratio), RT_SIGMA)
REP_MU_MEAN = 1.45  # log minutes: a median rep answers in ~4.3 business minutes at normal load
REP_MU_SD = 0.55
RT_SIGMA = 1.05
RT_TIER_SHIFT = {"cold": 0.30, "warm": 0.0, "hot": -0.40}
LOAD_ELASTICITY = 0.65
AFTER_HOURS_BACKLOG_MEDIAN_MIN = 22.0
AFTER_HOURS_BACKLOG_SIGMA = 0.8
TARGET_LEADS_PER_REP_HOUR = 6.0
MIN_REPS_PER_TEAM = 3
REP_DAILY_ATTRITION = 0.0012
PART_TIME_REP_WEIGHT = 0.3

SMS_STATUS_P_OUT = {"delivered": 0.905, "sent": 0.03, "failed": 0.03, "undelivered": 0.035}
EMAIL_STATUS_P_OUT = {"delivered": 0.90, "sent": 0.04, "bounced": 0.04, "failed": 0.02}
AUTO_SMS_P = 0.82
AUTO_EMAIL_P = 0.76
OFFSET_AWARE_SHARE = 0.15  # CRM rows written with an explicit UTC offset

# Share of outbound rows that carry the CRM lead_id (telephony/messaging systems mostly do not)
LEAD_ID_SHARE = {"call": 0.40, "auto_sms": 0.50, "sms": 0.30, "auto_email": 0.60, "email": 0.55}

# Messy data, as fractions of messy_share
# Share of messy_share spent on rows ingestion must quarantine, split evenly over the reasons
# that can apply to the entity (the rest goes to the anomalies ingestion keeps).
MESSY_QUARANTINE_SHARE = 0.85
MESSY_DUPLICATE_LEADS = 0.30
MESSY_BOT_LEADS = 0.15
MESSY_TEST_LEADS = 0.05
MESSY_BEFORE_LEAD = 0.10  # per genuine lead
MESSY_UNKNOWN_CONTACT = 0.30  # per lead of the day, extra activity rows

# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------

FIRST_NAMES = {
    "US": (
        "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
        "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
        "Sarah", "Christopher", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony",
        "Sandra", "Mark", "Ashley", "Steven", "Emily", "Andrew", "Michelle", "Joshua", "Amanda",
        "Kevin", "Melissa", "Brian", "Stephanie", "Jose", "Maria", "Luis", "Sofia", "Carlos",
        "Camila", "Wei", "Mei", "Raj", "Priya", "DeShawn", "Aaliyah", "Tyrone", "Imani", "Ethan",
        "Olivia", "Noah", "Emma", "Liam", "Ava", "Mason", "Isabella",
    ),
    "CA": (
        "Liam", "Olivia", "Noah", "Emma", "Lucas", "Charlotte", "Benjamin", "Amelia", "Logan",
        "Chloe", "Nathan", "Zoe", "Mathieu", "Camille", "Gabriel", "Léa", "Felix", "Juliette",
        "Ryan", "Hannah", "Owen", "Maya", "Arjun", "Simran", "Jun", "Ying", "Tyler", "Madison",
    ),
    "GB": (
        "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Jacob", "Emily",
        "Charlie", "Sophie", "Thomas", "Grace", "Oscar", "Lily", "William", "Freya", "James",
        "Poppy", "Alfie", "Evie", "Mohammed", "Aisha", "Arjun", "Priya", "Callum", "Niamh",
        "Rhys", "Cerys", "Fraser", "Eilidh", "Kwame", "Zara", "Declan", "Siobhan",
    ),
    "AU": (
        "Jack", "Charlotte", "William", "Olivia", "Oliver", "Mia", "Noah", "Amelia", "Thomas",
        "Isla", "Lachlan", "Chloe", "Cooper", "Ruby", "Liam", "Zoe", "Riley", "Matilda", "Ethan",
        "Sienna", "Hamish", "Grace", "Nguyen", "Linh", "Wei", "Mei", "Aarav", "Anika", "Kai",
        "Tahlia",
    ),
}
LAST_NAMES = {
    "US": (
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
        "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
        "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
        "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
        "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
        "Roberts", "Chen", "Patel", "Kim", "O'Connor", "Washington", "Murphy",
    ),
    "CA": (
        "Smith", "Brown", "Tremblay", "Martin", "Roy", "Gagnon", "Lee", "Wilson", "Johnson",
        "MacDonald", "Taylor", "Campbell", "Anderson", "Leblanc", "Bouchard", "Gauthier",
        "Morin", "Wong", "Singh", "Chen", "Li", "Côté", "Fraser", "Stewart",
    ),
    "GB": (
        "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
        "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
        "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
        "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Khan", "Ali", "MacLeod",
        "O'Brien", "Okafor", "Kowalski",
    ),
    "AU": (
        "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin",
        "Anderson", "Thompson", "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan",
        "Robinson", "Kelly", "King", "Davis", "Wright", "Evans", "Roberts", "Green", "Hall",
        "Wood", "Jackson", "Clarke", "Tran", "Papadopoulos", "Singh",
    ),
}
EMAIL_DOMAINS = {
    "US": ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net"),
    "CA": ("gmail.com", "hotmail.com", "outlook.com", "yahoo.ca", "rogers.com", "shaw.ca"),
    "GB": ("gmail.com", "hotmail.co.uk", "outlook.com", "btinternet.com", "yahoo.co.uk", "sky.com"),
    "AU": ("gmail.com", "bigpond.com", "outlook.com", "hotmail.com", "optusnet.com.au", "icloud.com"),
}
EMAIL_DOMAIN_P = {
    "US": (0.45, 0.16, 0.12, 0.09, 0.10, 0.04, 0.04),
    "CA": (0.45, 0.18, 0.14, 0.10, 0.08, 0.05),
    "GB": (0.40, 0.18, 0.15, 0.10, 0.10, 0.07),
    "AU": (0.45, 0.15, 0.13, 0.12, 0.08, 0.07),
}
# Local-part styles: f=first, l=last, i=first initial; the number is appended when the same
# combination was used before (so every lead's address is unique).
EMAIL_STYLES = ("{f}.{l}", "{f}{l}", "{i}{l}", "{f}_{l}", "{l}.{f}")
# Domains used only for addresses that must match no lead (unknown correspondents).
UNKNOWN_EMAIL_DOMAINS = ("protonmail.com", "gmx.com", "zoho.com", "fastmail.com", "mail.com")
BOT_EMAIL_DOMAINS = ("mailinator.com", "yopmail.com", "guerrillamail.com", "trashmail.io")

USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36", 0.26),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 0.24),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36", 0.16),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", 0.11),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0", 0.09),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:129.0) Gecko/20100101 Firefox/129.0", 0.05),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 0.04),
    ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Mobile Safari/537.36", 0.05),
)
BOT_USER_AGENTS = (
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "curl/8.7.1",
    "Scrapy/2.11.2 (+https://scrapy.org)",
    "Go-http-client/1.1",
)
BOT_MARKERS = ("python-requests", "headlesschrome", "bot", "curl/", "scrapy", "go-http-client")
TEST_LAST_NAMES = ("Lead", "User", "QA", "Tester", "Demo")

# --------------------------------------------------------------------------------------------
# Phone numbering plans
# --------------------------------------------------------------------------------------------
# A "space" is a set of valid national significant numbers (NSN) of one country; an index is
# mapped into it by a bijection, so distinct indexes never share a number. Index ranges:
#   leads: [0, 20M), reps: 20M + r, unknown correspondents: 25M + k, company lines: 30M + t
IDX_REP = 20_000_000
IDX_UNKNOWN = 25_000_000
IDX_COMPANY = 30_000_000
MAX_INDEX = 31_000_000

NANP_AREA_CODES = {
    "US_east": (212, 646, 718, 917, 347, 516, 631, 914, 201, 973, 732, 617, 857, 781, 215, 267,
                202, 305, 786, 404, 470, 678, 919, 704, 410),
    "US_central": (312, 773, 872, 630, 847, 214, 469, 972, 713, 832, 281, 512, 737, 210, 612, 651,
                   314, 414, 615, 901, 816, 405, 504),
    "US_west": (415, 628, 510, 650, 408, 669, 310, 424, 213, 323, 818, 626, 714, 949, 619, 858,
                206, 425, 503, 971, 602, 480, 702, 303, 720, 801, 916),
    "CA_east": (416, 647, 437, 905, 289, 514, 438, 613, 343),
    "CA_west": (604, 778, 236, 250, 403, 587, 780, 825),
}
# Blocks of (prefix of the NSN, number of free digits after it)
BLOCK_SPACES = {
    "GB": (("71", 8), ("73", 8), ("74", 8), ("75", 8), ("77", 8), ("78", 8), ("79", 8),
           ("203", 7), ("207", 7), ("208", 7)),
    "AU": (("40", 7), ("41", 7), ("42", 7), ("43", 7), ("46", 7), ("28", 7), ("29", 7)),
}
NSN_LENGTH = {"US": 10, "CA": 10, "GB": 10, "AU": 9}

# Human formats, "D" = next NSN digit. Per (country, kind) with weights.
PHONE_TEMPLATES = {
    ("NANP", "any"): (
        ("(DDD) DDD-DDDD", 0.30), ("DDD-DDD-DDDD", 0.18), ("DDD.DDD.DDDD", 0.08),
        ("+1 DDD DDD DDDD", 0.12), ("+1DDDDDDDDDD", 0.10), ("1-DDD-DDD-DDDD", 0.06),
        ("DDDDDDDDDD", 0.12), ("+1 (DDD) DDD-DDDD", 0.04),
    ),
    ("GB", "mobile"): (
        ("0DDDD DDDDDD", 0.40), ("+44 DDDD DDDDDD", 0.25), ("0044 DDDD DDDDDD", 0.10),
        ("+44DDDDDDDDDD", 0.10), ("0DDDDDDDDDD", 0.15),
    ),
    ("GB", "landline"): (
        ("0DD DDDD DDDD", 0.45), ("+44 DD DDDD DDDD", 0.25), ("0044 DD DDDD DDDD", 0.15),
        ("(0DD) DDDD DDDD", 0.15),
    ),
    ("AU", "mobile"): (
        ("0DDD DDD DDD", 0.45), ("+61 DDD DDD DDD", 0.28), ("+61DDDDDDDDD", 0.15),
        ("0DDDDDDDDD", 0.12),
    ),
    ("AU", "landline"): (
        ("(0D) DDDD DDDD", 0.40), ("0D DDDD DDDD", 0.35), ("+61 D DDDD DDDD", 0.25),
    ),
}
