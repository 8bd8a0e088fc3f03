"""Word lists and text templates for the demo company (``sales.demo``): names, companies, titles, interaction texts.

The demo company is "Lumen Analytics", which sells a revenue-analytics platform. Every company, person and
competitor here is fictional; company domains end in ``.example`` so no demo address can reach a real inbox.
Texts are composed from templates and slots so that search and sentiment have varied, realistic material.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

SELLER = "Lumen Analytics"

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Lucas", "Mia", "Mason", "Isabella", "Logan",
    "Amelia", "James", "Harper", "Benjamin", "Evelyn", "Elijah", "Abigail", "Oliver", "Emily", "Daniel",
    "Charlotte", "Henry", "Ella", "Samuel", "Grace", "David", "Chloe", "Joseph", "Zoe", "Carter", "Nora",
    "Owen", "Lily", "Wyatt", "Hannah", "Jack", "Layla", "Luke", "Aria", "Gabriel", "Riley", "Anthony",
    "Ellie", "Isaac", "Stella", "Dylan", "Hazel", "Leo", "Aurora", "Julian", "Naomi", "Levi", "Maya",
    "Aaron", "Leah", "Caleb", "Sara", "Ryan", "Clara", "Nathan", "Ines", "Adrian", "Freya", "Mateo",
    "Lucia", "Felix", "Elena", "Jonas", "Astrid", "Rafael", "Yuki", "Kenji", "Mei", "Ravi", "Ananya",
    "Omar", "Fatima", "Tariq", "Zara", "Kwame", "Amara", "Diego", "Valentina", "Sven", "Ingrid", "Piotr",
    "Katarzyna", "Lars", "Annika", "Hugo", "Camille", "Matteo", "Giulia", "Jamal", "Nia", "Wei", "Lin",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Schmidt",
    "Muller", "Schneider", "Weber", "Becker", "Hoffmann", "Dubois", "Moreau", "Laurent", "Bernard", "Rossi",
    "Russo", "Ferrari", "Esposito", "Jansen", "de Vries", "Bakker", "Visser", "Andersson", "Johansson",
    "Nilsson", "Kowalski", "Nowak", "Novak", "Silva", "Santos", "Oliveira", "Costa", "Patel", "Shah",
    "Kumar", "Singh", "Tanaka", "Sato", "Kim", "Park", "Chen", "Wang", "Okafor", "Mensah", "Haddad",
    "Nakamura", "O'Brien", "Murphy", "Kelly", "Fraser", "Lindqvist", "Virtanen", "Horvath", "Papadopoulos",
)  # fmt: skip

COMPANY_STEMS = (
    "Harborview", "Northgate", "Silverline", "Bluepeak", "Redwood", "Ironbridge", "Cedarbrook", "Lakeshore",
    "Summit", "Brightwater", "Oakridge", "Westfield", "Granite", "Meridian", "Pinecrest", "Starling", "Falcon",
    "Evergreen", "Coastal", "Highland", "Riverbend", "Stonegate", "Sunridge", "Maplewood", "Aurora", "Beacon",
    "Crescent", "Horizon", "Keystone", "Lighthouse", "Orchard", "Pioneer", "Quarry", "Sterling", "Tidewater",
    "Unity", "Vantage", "Willow", "Zenith", "Atlas", "Copperfield", "Driftwood", "Elmstead", "Foxglove",
    "Glacier", "Hawthorne", "Juniper", "Kingsley", "Larkspur", "Mosaic", "Nimbus", "Obsidian", "Prairie",
    "Quillon", "Rosewood", "Sable", "Thornbury", "Verity", "Windrose", "Yardley", "Alder", "Bramble",
    "Clearwater", "Dunmore", "Eastbrook", "Fairhaven", "Goldcrest", "Hollis", "Ivory", "Jetstream", "Kestrel",
    "Lindenhurst", "Marlow", "Newhaven", "Osprey", "Parkside", "Ravenwood", "Saltmarsh", "Trident", "Upland",
    "Valemont", "Wexford", "Ashgrove", "Bellwether", "Cobalt", "Delta Ridge", "Emberly", "Fernhill", "Greystone",
)  # fmt: skip

INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Software": ("Labs", "Systems", "Software", "Cloud", "Data"),
    "Manufacturing": ("Manufacturing", "Industries", "Components", "Fabrication", "Tooling"),
    "Healthcare": ("Health", "Medical Group", "Clinics", "Diagnostics", "Care"),
    "Financial Services": ("Capital", "Financial", "Bank", "Insurance", "Wealth"),
    "Retail": ("Outfitters", "Market", "Retail Group", "Home Goods", "Stores"),
    "Logistics": ("Logistics", "Freight", "Shipping", "Distribution", "Transport"),
    "Education": ("Academy", "Learning", "Education", "Schools"),
    "Energy": ("Energy", "Power", "Solar", "Utilities"),
    "Media": ("Media", "Studios", "Publishing", "Broadcasting"),
    "Professional Services": ("Consulting", "Partners", "Advisory", "Group"),
    "Telecommunications": ("Telecom", "Networks", "Communications"),
    "Hospitality": ("Hotels", "Hospitality", "Resorts"),
}

COUNTRIES: dict[str, tuple[str, ...]] = {
    "Americas": ("US", "US", "US", "US", "CA", "BR", "MX"),
    "EMEA": ("GB", "GB", "DE", "DE", "FR", "NL", "SE", "ES"),
}

# Phone number shapes per country (digits after the country code); filled at random, checked with phonenumbers.
PHONE_SHAPES: dict[str, tuple[str, ...]] = {
    "US": ("+1212555{4}", "+1312555{4}", "+1415555{4}", "+1512555{4}", "+1617555{4}", "+1206555{4}", "+1404555{4}"),
    "CA": ("+1416555{4}", "+1604555{4}"),
    "BR": ("+55113{7}",),
    "MX": ("+52555{7}",),
    "GB": ("+4420794{5}", "+44161496{4}"),
    "DE": ("+4930{8}", "+4989{8}"),
    "FR": ("+331{8}",),
    "NL": ("+3120{7}",),
    "SE": ("+468{7}",),
    "ES": ("+3491{7}",),
}

SENIORITY_TITLES: dict[str, tuple[str, ...]] = {
    "c_level": ("Chief Revenue Officer", "CFO", "COO", "CEO", "Chief Operating Officer"),
    "vp": ("VP of Sales", "VP Sales Operations", "VP of Revenue", "VP Finance", "VP Customer Success"),
    "director": (
        "Director of Revenue Operations",
        "Head of Sales",
        "Director of Sales Operations",
        "Head of RevOps",
        "Director of FP&A",
    ),
    "manager": ("Sales Manager", "Operations Manager", "RevOps Manager", "Regional Sales Manager", "Finance Manager"),
    "individual": (
        "Account Executive",
        "Sales Operations Analyst",
        "Business Analyst",
        "Sales Development Rep",
        "Data Analyst",
    ),
}

COMPETITORS = ("Brightmetrics", "DataHarbor", "Quantive", "PipelinePro", "Forecastly", "Revlytic")

PRODUCTS_BY_BAND: dict[str, tuple[str, ...]] = {
    "small": ("Lumen Starter", "Lumen Starter", "Forecasting add-on", "Onboarding services"),
    "mid-market": ("Lumen Growth", "Lumen Growth", "Data Connectors pack", "Forecasting add-on"),
    "enterprise": ("Lumen Enterprise", "Lumen Enterprise", "Lumen Enterprise + Premium Support"),
}

LEAD_SOURCES = ("web", "referral", "event", "outbound", "partner", "paid_ads", "webinar")

LOSS_REASONS = (
    "Price: {competitor} came in cheaper",
    "Lost to competitor: {competitor}",
    "No budget this fiscal year",
    "No decision: went dark after the proposal",
    "Timing: project postponed to {quarter}",
    "Missing feature: {feature}",
    "Chose to build in-house",
    "Champion left the company",
)

FEATURES = (
    "native SAP integration",
    "on-premise deployment",
    "multi-currency forecasting by entity",
    "Salesforce CPQ sync",
    "territory planning",
    "a German-language UI",
)
PAINS = (
    "the weekly forecast call takes half a day and nobody trusts the number",
    "pipeline lives in three spreadsheets that disagree with the CRM",
    "no visibility into deals stuck in legal or procurement",
    "reps only update the CRM on Friday afternoons",
    "the board keeps asking for a forecast by segment and it takes a week to build",
    "they lost two large renewals last quarter without any warning",
    "commission disputes every month because bookings data is inconsistent",
    "regional managers each run their own forecast method",
)
CURRENT_TOOLS = (
    "spreadsheets on a shared drive",
    "Salesforce reports plus a lot of Excel",
    "HubSpot with manual CSV exports",
    "a home-grown BI dashboard nobody maintains",
    "{competitor}, with the contract ending in {month}",
    "Power BI reports built by one analyst",
)
NEXT_STEPS = (
    "demo for the wider team",
    "send the security pack",
    "technical deep-dive with their IT lead",
    "draft proposal by end of next week",
    "intro to their CFO",
    "trial workspace with their own data",
    "reference call with a customer in {industry}",
)
INTEGRATIONS = ("Salesforce", "HubSpot", "Snowflake", "BigQuery", "NetSuite", "Microsoft Dynamics", "Slack")
IDENTITY_PROVIDERS = ("Okta", "Azure AD", "Google Workspace", "OneLogin")
LEGAL_CLAUSES = (
    "a liability cap of 2x annual fees instead of 1x",
    "removal of the auto-renewal clause",
    "net-60 payment terms",
    "a data processing addendum under their template",
    "termination for convenience after year one",
    "uncapped indemnity for data breaches",
    "EU data residency written into the order form",
)
SECURITY_ITEMS = (
    "SOC 2 Type II report",
    "latest penetration test summary",
    "a 180-question SIG Lite questionnaire",
    "the data retention policy",
    "sub-processor list",
    "SSO and SCIM provisioning details",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
TIMES = ("9:00", "9:30", "10:00", "11:00", "13:30", "14:00", "15:00", "16:30")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip

GREETINGS = ("Hi {first},", "Hello {first},", "{first},", "Hi {first} -", "Good morning {first},", "Hey {first},")
SIGN_OFFS = (
    "Best,\n{me}",
    "Thanks,\n{me}",
    "Cheers,\n{me}",
    "Kind regards,\n{me}",
    "Talk soon,\n{me}",
    "Thanks again,\n{me}",
)

# Each topic: subjects and bodies by tone ("pos", "neg", "neu"). Bodies are joined with a greeting and sign-off
# for emails; notes use them as they are.
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "intro_out": {
        "subject": (
            "Quick question about forecasting at {company}",
            "{company} + Lumen",
            "Idea for your {dept} team",
            "Pipeline reviews at {company}",
            "Following up on your visit to our site",
        ),
        "neu": (
            "I noticed {company} has been growing its {dept} team. Teams like yours usually lose a day a week to "
            "spreadsheet forecasting; Lumen pulls the pipeline together so the weekly call takes minutes instead. "
            "Would a 20-minute call next week be worth it?",
            "We work with a few {industry_l} companies your size that cut their forecast error roughly in half in "
            "the first quarter. Happy to show you how, no slides, just the product. Do you have time on {weekday}?",
            "You downloaded our guide on pipeline reviews last week. If {pain_short} sounds familiar, I'd love to "
            "show you how other {industry_l} teams handle it in Lumen.",
            "A colleague of yours mentioned that {company} is rethinking how deals are tracked across regions. "
            "That is exactly what Lumen does. Open to a short intro call?",
        ),
    },
    "intro_reply": {
        "subject": ("Re: {company} + Lumen", "Re: Quick question", "Re: Pipeline reviews at {company}"),
        "pos": (
            "Thanks for reaching out, the timing is actually good. We're reviewing our tooling this quarter and "
            "forecasting is the top complaint from our managers. Can you send a few times for next week?",
            "Great timing! Our {boss} asked me last week to find a better way to run pipeline reviews. I'd be "
            "happy to take a look. {weekday} afternoon works well for me.",
            "Yes, interested. We've outgrown our spreadsheets and I'd love to see what Lumen looks like with data "
            "like ours.",
        ),
        "neu": (
            "Can you send over a one-pager first? I'll share it with our {boss} and come back to you.",
            "Thanks. We're mid-way through a CRM clean-up, so maybe in a few weeks. What does pricing roughly "
            "look like for a team of {seats}?",
        ),
        "neg": (
            "Not a priority for us right now, we have bigger problems this year. Please check back next year.",
            "We're already using {competitor} and honestly it's fine. Please take me off this sequence.",
            "I'm not the right person for this and I don't have time for another vendor call, sorry.",
        ),
    },
    "scheduling": {
        "subject": (
            "Time for a call?",
            "Re: next steps",
            "Rescheduling {weekday}",
            "Calendar invite: {company} / Lumen",
        ),
        "neu": (
            "Does {weekday} at {time} work for a 30-minute call? I'll bring a sample dashboard built on "
            "anonymised data from one of our {industry_l} customers.",
            "I sent a calendar invite for {weekday} at {time}. I've added {colleague} from IT so we can cover "
            "the integration questions at the same time.",
            "Could we move our {weekday} call to {weekday2} at {time}? Our quarter-end review got moved.",
            "Confirming {weekday} at {time}. Please share the dial-in or I can send a video link.",
        ),
        "neg": (
            "I have to cancel again this week, sorry. Things are hectic with {topic_busy}. I'll reach out when "
            "it calms down.",
        ),
    },
    "discovery_call": {
        "neu": (
            "Discovery call with {contact} ({title}). Today they use {current_tool}. Main pain: {pain}. "
            "Decision makers: {contact_first} plus their {boss}. Timeline: {timeline}. Next step: {next_step}.",
            "Call with {contact_first}. {seats} users across {n_regions} regions. Pain: {pain}. They have looked at "
            "{competitor} before but found it too rigid. Budget: {budget_state}. Next step: {next_step}.",
        ),
        "pos": (
            "Really good discovery call with {contact} ({title}). They are excited about automated roll-ups; "
            "{pain}. Budget is {budget_state} and {contact_first} wants a decision by {month}. Next: {next_step}.",
        ),
        "neg": (
            "Discovery call with {contact}: lukewarm. {contact_first} is not sure the problem is big enough to "
            "justify a new tool; current setup is {current_tool}. No budget owner identified yet.",
        ),
    },
    "demo_meeting": {
        "pos": (
            "Demo for {n_people} people from {company}, including {contact_first} and their {boss}. They loved "
            "the deal-risk view and asked for a trial with their own data. Strong engagement, lots of questions "
            "on {integration} sync. Next: {next_step}.",
            "Great demo today. {contact_first} said it was the first time the whole team agreed on a tool. "
            "They want to see how forecasting by segment works on their {integration} data.",
        ),
        "neu": (
            "Demo with {contact} and {n_people} others. Covered pipeline inspection, forecast categories and the "
            "{integration} connector. Open questions on {question_topic}. Next: {next_step}.",
        ),
        "neg": (
            "Demo went poorly. Their {boss} joined late and kept comparing us to {competitor}; the {integration} "
            "mapping questions went unanswered. {contact_first} seemed disappointed.",
        ),
    },
    "technical_question": {
        "subject": ("Questions from our IT team", "SSO and data residency", "{integration} connector question"),
        "neu": (
            "Our IT team asked whether Lumen supports SSO with {idp} and SCIM provisioning. They also need to "
            "know where the data is hosted; we need {residency}.",
            "Can the {integration} connector sync custom fields and historical stage changes? We have about "
            "{n_records} opportunities going back three years.",
            "How long does the initial {integration} sync usually take, and can we limit it to two business units?",
        ),
    },
    "security_review": {
        "subject": ("Security review", "Vendor assessment for Lumen", "Security questionnaire"),
        "neu": (
            "Before we move forward our security team needs the {security_item} and the {security_item2}. They "
            "said the review usually takes {weeks} weeks once they have everything.",
            "Security review kicked off. {contact_first} sent the {security_item}; I've asked our security team "
            "to turn it around by {weekday}.",
        ),
        "neg": (
            "Our security team is concerned about the {security_item}; they flagged several gaps and the review "
            "is on hold until we get answers. This could delay things significantly.",
        ),
        "pos": ("Good news: security signed off on Lumen. Thanks for turning the {security_item} around so quickly!",),
    },
    "proposal_sent": {
        "subject": ("Proposal for {company}", "Lumen proposal: {product}", "Your proposal and next steps"),
        "neu": (
            "As promised, attached is the proposal for {product}: {seats} seats on a {term}-month term, total "
            "{amount}. It includes onboarding and the {integration} connector. Happy to walk your {boss} through it.",
            "Here is the proposal we discussed: {product}, {amount} per year. I've kept the scope to the "
            "{n_regions} regions you mentioned; we can add the rest later at the same per-seat price.",
        ),
    },
    "pricing_question": {
        "subject": ("Re: Proposal for {company}", "Question on pricing", "Pricing"),
        "pos": (
            "The proposal looks good. One question: is the {amount} figure annual, and does it include onboarding? "
            "If so I think we can move ahead quickly.",
            "Thanks, this is in line with what we expected. Can you split the invoice between two cost centres?",
        ),
        "neu": (
            "Could you break the price down per seat? Finance wants to compare it with the {n_seats_alt}-seat option.",
            "Is there a discount for a {term}-month commitment paid upfront?",
        ),
        "neg": (
            "Honestly the number came in well above what we budgeted. {competitor} quoted us roughly {discount}% "
            "less for a similar scope. I'm not sure I can defend this price internally.",
            "Our CFO pushed back hard on the price. Unless you can get closer to {competitor}'s offer this will be "
            "difficult.",
        ),
    },
    "competitor": {
        "pos": (
            "{contact_first} confirmed they are also looking at {competitor}, but they prefer our forecasting "
            "model and the {integration} connector. We are the front-runner.",
        ),
        "neu": (
            "Competitive: they are also evaluating {competitor}. {competitor} pitches {comp_angle}; we win on "
            "forecast accuracy and time to value. Sent the comparison sheet.",
        ),
        "neg": (
            "{competitor} is in the deal and offering {discount}% off plus free onboarding. {contact_first} "
            "hinted that the team prefers {competitor}'s UI. We are behind.",
        ),
    },
    "budget": {
        "subject": ("Budget update", "Re: timeline", "Approval status"),
        "pos": (
            "Good news: our {boss} approved the budget for {quarter}. We can plan to sign this month.",
            "Budget is approved! Procurement will reach out about the paperwork.",
        ),
        "neu": (
            "The budget request is with our {boss} now. They review new spend on the first {weekday} of the month.",
        ),
        "neg": (
            "Bad news on budget: there's a freeze until {quarter} and anything above {limit} needs CFO sign-off. "
            "I'm frustrated, but my hands are tied.",
        ),
    },
    "legal_redlines": {
        "subject": ("MSA redlines", "Re: contract", "Legal comments on the order form"),
        "neu": (
            "Legal came back with redlines on the MSA: they want {clause} and {clause2}. Redlined copy attached.",
            "Our counsel reviewed the order form. The main open points are {clause} and {clause2}.",
        ),
        "neg": (
            "Legal is not comfortable with the current terms at all. They insist on {clause}, and without it "
            "this cannot be signed this quarter.",
        ),
        "pos": ("Legal approved the contract with only minor comments on {clause}. We are close!",),
    },
    "discount_request": {
        "neu": (
            "@{manager_first} {company} is asking for {discount}% off to sign by {date}. Deal is {amount}. "
            "OK to offer {discount_offer}% with a two-year term?",
            "@{manager_first} need your call on {company}: they want net-60 payment and {discount}% off. "
            "I think {discount_offer}% gets it done.",
        ),
    },
    "procurement": {
        "subject": ("Supplier onboarding", "PO process", "Vendor forms"),
        "neu": (
            "Procurement needs the supplier form and your bank details on letterhead; they will issue the PO "
            "within {weeks} weeks after that.",
            "We have to register Lumen in our vendor portal before a PO can be raised. Sending the invite now.",
        ),
    },
    "champion_change": {
        "subject": ("Change of contact", "Handover", "Leaving {company}"),
        "neg": (
            "Heads up: I am leaving {company} at the end of the month. {new_contact} ({new_title}) will take "
            "over the evaluation. Sorry for the disruption.",
            "Our champion {contact_first} has left {company}. The new owner, {new_contact}, wants to restart the "
            "evaluation from scratch. Worried this pushes the deal out a quarter.",
        ),
        "neu": (
            "{contact_first} introduced {new_contact} ({new_title}), who will own the project from now on. "
            "Booked a call to get {new_first} up to speed.",
        ),
    },
    "verbal_commit": {
        "pos": (
            "Verbal yes from {contact_first}! They want to start on the first of {month}. Paperwork next.",
            "Call with {contact} and their {boss}: they chose Lumen. Excellent outcome, contract to follow.",
        ),
    },
    "won": {
        "subject": ("Signed order form", "Re: contract - signed", "Welcome aboard"),
        "pos": (
            "Signed order form attached! We're excited to get started. Can you set up the kickoff for next week?",
            "Everything is signed on our side. Thanks for your patience through legal; the team is looking forward "
            "to onboarding.",
        ),
    },
    "won_slack": {
        "pos": (
            ":tada: {company} signed {amount} for {product}! Huge thanks to @{manager_first} for the exec call.",
            "Closed {company} today, {amount}. Great teamwork on the security review.",
        ),
    },
    "lost": {
        "neg": (
            "Closed lost: {loss_reason}. {contact_first} said they may revisit next year.",
            "{company} decided not to move forward. Reason: {loss_reason}. Disappointing after a good demo.",
            "Lost {company}. {loss_reason}. Lesson: we engaged their {boss} too late.",
        ),
    },
    "lost_email": {
        "subject": ("Decision", "Re: Proposal for {company}", "Update on our evaluation"),
        "neg": (
            "Thank you for all your time. After a lot of discussion we have decided not to move forward with "
            "Lumen. In short, for your records: {loss_reason_l}.",
            "I'm sorry to say we won't be going ahead. {loss_reason}. I appreciate the effort your team put in.",
        ),
    },
    "rework": {
        "neu": (
            "Moving {company} back to {stage}: {rework_reason}.",
            "Step back on {company}: {rework_reason}. Re-planning next steps with {contact_first}.",
        ),
    },
    "check_in": {
        "subject": ("Checking in", "Next steps for {company}", "Quick update"),
        "pos": (
            "Quick update from our side: the team is happy with the trial and our {boss} is on board. We should "
            "have an answer by {weekday}.",
        ),
        "neu": (
            "Just checking in on where things stand. Is there anything else your {boss} needs from us before "
            "the next step?",
            "Following up on our last call. I've attached the ROI summary we discussed; let me know if {weekday} "
            "still works to review it together.",
        ),
        "neg": (
            "Sorry for the slow reply. Priorities shifted after the reorg and I can't promise a timeline right now.",
        ),
    },
    "stall_note": {
        "neu": (
            "{contact_first} said they'll circle back after {topic_busy}. Parking this for now.",
            "No reply to the last two follow-ups. Will try {contact_first}'s {boss} next.",
        ),
    },
    "lead_web_form": {
        "subject": ("Demo request from {company}", "Contact form: {company}", "Pricing request"),
        "neu": (
            'Website form: "{form_message}" ({seats} users, {industry}).',
            'Demo request via the pricing page: "{form_message}"',
        ),
    },
    "lead_follow_up": {
        "subject": ("Following up", "Re: {company} + Lumen", "One more idea for {company}"),
        "neu": (
            "Following up on my note from last week. If forecasting is on your list this quarter, I can show you "
            "a 15-minute walkthrough tailored to {industry_l}.",
            "Sharing a short case study from one of our {industry_l} customers: forecast prep went from a day "
            "to an hour. Worth a conversation?",
        ),
    },
    "lead_reply_pos": {
        "subject": ("Re: Following up", "Re: {company} + Lumen"),
        "pos": (
            "Thanks for following up, this is very relevant. Let's find time next week; I'll loop in our {boss}.",
            "Sounds great. We're actively looking for something like this. {weekday} at {time} works for me.",
        ),
    },
    "lead_reply_neg": {
        "subject": ("Re: Following up", "Unsubscribe"),
        "neg": (
            "Please remove me from your mailing list. Not interested.",
            "We just signed with {competitor}, so we're all set. Thanks anyway.",
            "This isn't relevant for a company our size, sorry.",
        ),
    },
    "lead_event": {
        "neu": (
            "Met {contact_first} at the {event} booth. Interested in {interest}; asked for a follow-up in two weeks.",
            "Badge scan from {event}. Short chat about {interest}.",
        ),
    },
}

FORM_MESSAGES = (
    "We need a better way to forecast across our regional teams",
    "Looking for pipeline analytics that work with {integration}",
    "Interested in pricing for a team of {seats}",
    "Our board wants a reliable forecast, can you help?",
    "Comparing tools for deal inspection and forecasting",
    "Please send a demo",
)
EVENTS = ("SaaStr Europa", "RevOps Summit", "Sales Leaders Forum", "Pipeline Live", "Forecasting World")
INTERESTS = ("AI forecasting", "deal risk alerts", "pipeline inspection", "territory analytics", "rep coaching")
BOSSES = ("VP Sales", "CFO", "CRO", "COO", "Head of Finance", "CEO")
DEPTS = ("sales", "revenue operations", "finance", "sales operations")
REWORK_REASONS = (
    "a new stakeholder from finance wants to re-scope the rollout",
    "they asked for a revised proposal with fewer seats",
    "their IT team reopened the integration questions",
    "the buying committee changed after a reorg",
    "they want to run a second trial with another business unit",
)
BUSY_TOPICS = ("quarter-end", "the annual budget cycle", "our ERP migration", "the reorg", "the audit")
QUESTION_TOPICS = ("data residency", "user permissions", "historical data import", "pricing tiers", "API limits")
COMP_ANGLES = ("a lower price", "an all-in-one CRM suite", "more dashboards out of the box", "a free pilot")
RESIDENCIES = ("EU hosting", "US-only hosting", "data to stay in Frankfurt", "a single-tenant option")


@dataclass
class Slots:
    """Facts about one interaction that templates may mention."""

    company: str
    industry: str
    contact: str
    contact_title: str
    rep: str
    manager: str
    product: str = "Lumen Growth"
    amount: str = "$25,000"
    stage: str = "Discovery"
    loss_reason: str = ""


def pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


class TextComposer:
    """Fills topic templates with names, numbers and details drawn from a seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def fill(self, template: str, slots: Slots) -> str:
        r = self.rng
        first = slots.contact.split()[0]
        competitor = pick(r, COMPETITORS)
        clause, clause2 = r.sample(LEGAL_CLAUSES, 2)
        sec1, sec2 = r.sample(SECURITY_ITEMS, 2)
        new_first, new_last = pick(r, FIRST_NAMES), pick(r, LAST_NAMES)
        discount = r.choice((10, 15, 20, 25, 30))
        values = {
            "company": slots.company,
            "industry": slots.industry,
            "industry_l": slots.industry.lower(),
            "contact": slots.contact,
            "contact_first": first,
            "title": slots.contact_title,
            "rep": slots.rep,
            "manager_first": slots.manager.split()[0].lower(),
            "product": slots.product,
            "amount": slots.amount,
            "stage": slots.stage,
            "loss_reason": slots.loss_reason,
            "loss_reason_l": (slots.loss_reason[:1].lower() + slots.loss_reason[1:]) if slots.loss_reason else "",
            "competitor": competitor,
            "clause": clause,
            "clause2": clause2,
            "security_item": sec1,
            "security_item2": sec2,
            "new_contact": f"{new_first} {new_last}",
            "new_first": new_first,
            "new_title": pick(r, SENIORITY_TITLES["director"]),
            "discount": str(discount),
            "discount_offer": str(max(5, discount - 10)),
            "weekday": pick(r, WEEKDAYS),
            "weekday2": pick(r, WEEKDAYS),
            "time": pick(r, TIMES),
            "month": pick(r, MONTHS),
            "quarter": f"Q{r.randint(1, 4)}",
            "date": f"{pick(r, MONTHS)} {r.randint(1, 28)}",
            "seats": str(r.choice((12, 20, 25, 40, 60, 80, 120, 250))),
            "n_seats_alt": str(r.choice((10, 15, 30, 50))),
            "term": str(r.choice((12, 24, 36))),
            "n_regions": str(r.randint(2, 5)),
            "n_people": str(r.randint(3, 9)),
            "n_records": f"{r.randint(5, 90)},000",
            "weeks": str(r.randint(2, 6)),
            "limit": r.choice(("$20k", "$50k", "$100k")),
            "boss": pick(r, BOSSES),
            "dept": pick(r, DEPTS),
            "colleague": pick(r, FIRST_NAMES),
            "pain": pick(r, PAINS),
            "pain_short": pick(r, PAINS).split(" and ")[0],
            "current_tool": pick(r, CURRENT_TOOLS),
            "timeline": r.choice(("this quarter", "before the new fiscal year", "within 90 days", "no hard date")),
            "budget_state": r.choice(("approved", "allocated but not approved", "to be requested", "unclear")),
            "next_step": pick(r, NEXT_STEPS),
            "integration": pick(r, INTEGRATIONS),
            "idp": pick(r, IDENTITY_PROVIDERS),
            "residency": pick(r, RESIDENCIES),
            "question_topic": pick(r, QUESTION_TOPICS),
            "comp_angle": pick(r, COMP_ANGLES),
            "rework_reason": pick(r, REWORK_REASONS),
            "topic_busy": pick(r, BUSY_TOPICS),
            "event": pick(r, EVENTS),
            "interest": pick(r, INTERESTS),
            "form_message": pick(r, FORM_MESSAGES),
            "feature": pick(r, FEATURES),
        }
        # Slots can themselves hold slots (e.g. a current tool naming a competitor): fill twice.
        text = template.format(**values)
        return text.format(**values) if "{" in text else text

    def topic(
        self, topic: str, tone: str, slots: Slots, *, email: bool, inbound: bool = False
    ) -> tuple[str | None, str]:
        """(subject, body) for ``topic`` in ``tone``, falling back to the neutral or any available tone.

        Emails get a greeting and a sign-off: from the rep to the contact, or the other way round if ``inbound``.
        """
        spec = TOPICS[topic]
        bodies = spec.get(tone) or spec.get("neu") or next(v for k, v in spec.items() if k != "subject")
        body = self.fill(pick(self.rng, bodies), slots)
        subject = self.fill(pick(self.rng, spec["subject"]), slots) if "subject" in spec else None
        if email:
            rep_first, contact_first = slots.rep.split()[0], slots.contact.split()[0]
            to_first, from_first = (rep_first, contact_first) if inbound else (contact_first, rep_first)
            greeting = pick(self.rng, GREETINGS).format(first=to_first)
            sign_off = pick(self.rng, SIGN_OFFS).format(me=from_first)
            body = f"{greeting}\n\n{body}\n\n{sign_off}"
        return subject, body

    def loss_reason(self) -> str:
        reason = pick(self.rng, LOSS_REASONS)
        return reason.format(
            competitor=pick(self.rng, COMPETITORS),
            quarter=f"Q{self.rng.randint(1, 4)}",
            feature=pick(self.rng, FEATURES),
        )
