"""Out-of-the-box option sets of Dynamics 365 (Dataverse) tables, as Microsoft's table/entity reference lists
them (account, contact, opportunity): the integer values the Web API and Dataverse exports store, with
their English labels. The local test server serves them, and the demo's Dataverse export ships them in
the Synapse Link metadata tables beside its records.

Only facts of the vendor's documented lists: no mapping onto any canonical vocabulary here.
"""

from __future__ import annotations

_INDUSTRY = [
    "Accounting",
    "Agriculture and Non-petrol Natural Resource Extraction",
    "Broadcasting Printing and Publishing",
    "Brokers",
    "Building Supply Retail",
    "Business Services",
    "Consulting",
    "Consumer Services",
    "Design, Direction and Creative Management",
    "Distributors, Dispatchers and Processors",
    "Doctor's Offices and Clinics",
    "Durable Manufacturing",
    "Eating and Drinking Places",
    "Entertainment Retail",
    "Equipment Rental and Leasing",
    "Financial",
    "Food and Tobacco Processing",
    "Inbound Capital Intensive Processing",
    "Inbound Repair and Services",
    "Insurance",
    "Legal Services",
    "Non-Durable Merchandise Retail",
    "Outbound Consumer Service",
    "Petrochemical Extraction and Distribution",
    "Service Retail",
    "SIG Affiliations",
    "Social Services",
    "Special Outbound Trade Contractors",
    "Specialty Realty",
    "Transportation",
    "Utility Creation and Distribution",
    "Vehicle Retail",
    "Wholesale",
]
_RELATIONSHIP = [
    "Competitor",
    "Consultant",
    "Customer",
    "Investor",
    "Partner",
    "Influencer",
    "Press",
    "Prospect",
    "Reseller",
    "Supplier",
    "Vendor",
    "Other",
]
_LEAD_SOURCE = [
    "Advertisement",
    "Employee Referral",
    "External Referral",
    "Partner",
    "Public Relations",
    "Seminar",
    "Trade Show",
    "Web",
    "Word of Mouth",
    "Other",
]
# entity → attribute → [(value, label, the parent state of a status reason, else None)].
OPTION_SETS: dict[str, dict[str, list[tuple[int, str, int | None]]]] = {
    "account": {
        "industrycode": [(i + 1, label, None) for i, label in enumerate(_INDUSTRY)],
        "customertypecode": [(i + 1, label, None) for i, label in enumerate(_RELATIONSHIP)],
        "statecode": [(0, "Active", None), (1, "Inactive", None)],
        "statuscode": [(1, "Active", 0), (2, "Inactive", 1)],
    },
    "opportunity": {
        "salesstage": [(0, "Qualify", None), (1, "Develop", None), (2, "Propose", None), (3, "Close", None)],
        "salesstagecode": [(1, "Default Value", None)],  # "Process Code": one option out of the box
        "msdyn_forecastcategory": [
            (100000001, "Pipeline", None),
            (100000002, "Best case", None),
            (100000003, "Committed", None),
            (100000004, "Omitted", None),
            (100000005, "Won", None),
            (100000006, "Lost", None),
        ],
        "budgetstatus": [
            (0, "No Committed Budget", None),
            (1, "May Buy", None),
            (2, "Can Buy", None),
            (3, "Will Buy", None),
        ],
        "statecode": [(0, "Open", None), (1, "Won", None), (2, "Lost", None)],
        "statuscode": [(1, "In Progress", 0), (2, "On Hold", 0), (3, "Won", 1), (4, "Canceled", 2), (5, "Out-Sold", 2)],
    },
    "lead": {
        "leadsourcecode": [(i + 1, label, None) for i, label in enumerate(_LEAD_SOURCE)],
        "statecode": [(0, "Open", None), (1, "Qualified", None), (2, "Disqualified", None)],
    },
    "contact": {
        "statecode": [(0, "Active", None), (1, "Inactive", None)],
        "statuscode": [(1, "Active", 0), (2, "Inactive", 1)],
    },
}
