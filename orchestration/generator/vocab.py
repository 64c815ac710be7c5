"""Word lists for the sample data, rendered as DuckDB list literals.

Everything here is a constant: the generator picks from these lists by hash, so the
same seed always gives the same picks. Lists are indexed 1-based in SQL.
"""

from __future__ import annotations

# The fictional retailer.
SITE = "https://larkspur.example"
BRAND = "Larkspur"

FIRST_NAMES = [
    "James",
    "Mary",
    "Michael",
    "Jennifer",
    "Robert",
    "Linda",
    "David",
    "Patricia",
    "William",
    "Elizabeth",
    "Richard",
    "Barbara",
    "Joseph",
    "Susan",
    "Thomas",
    "Jessica",
    "Charles",
    "Sarah",
    "Christopher",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Betty",
    "Donald",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Kimberly",
    "Paul",
    "Margaret",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "Timothy",
    "Melissa",
    "Ronald",
    "Deborah",
    "Jason",
    "Stephanie",
    "Ryan",
    "Rebecca",
    "Jacob",
    "Laura",
    "Gary",
    "Sharon",
    "Nicholas",
    "Cynthia",
    "Eric",
    "Kathleen",
    "Jonathan",
    "Amy",
    "Stephen",
    "Angela",
    "Larry",
    "Shirley",
    "Justin",
    "Brenda",
    "Scott",
    "Emma",
    "Brandon",
    "Anna",
    "Benjamin",
    "Olivia",
    "Samuel",
    "Sophia",
    "Tyler",
    "Isabella",
    "Aaron",
    "Mia",
    "Noah",
    "Ava",
    "Ethan",
    "Harper",
    "Liam",
    "Chloe",
    "Lucas",
    "Grace",
    "Mason",
    "Lily",
    "Logan",
    "Hannah",
    "Priya",
    "Wei",
    "Mei",
    "Hiroshi",
    "Aisha",
    "Omar",
    "Fatima",
    "Kwame",
    "José",
    "Zoë",
    "Chloé",
    "Renée",
    "André",
    "François",
    "Björn",
    "Søren",
    "Jürgen",
    "Inés",
    "Noémie",
    "Mónica",
    "Raúl",
    "Ángel",
    "Sinéad",
    "Léa",
    "Hélène",
    "Jérôme",
    "Nuño",
    "Zoé",
]

LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Turner",
    "Parker",
    "Collins",
    "Edwards",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Morgan",
    "Peterson",
    "Cooper",
    "Reed",
    "Bailey",
    "Bell",
    "Kelly",
    "Howard",
    "Ward",
    "Cox",
    "Richardson",
    "Wood",
    "Watson",
    "Brooks",
    "Bennett",
    "Gray",
    "James",
    "Hughes",
    "Price",
    "Sanders",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "Wang",
    "Singh",
    "Khan",
    "Cohen",
    "Kowalski",
    "Novak",
    "Rossi",
    "Russo",
    "O'Brien",
    "O'Connor",
    "D'Angelo",
    "McDonald",
    "MacLeod",
    "Van der Berg",
    "García",
    "Rodríguez",
    "Martínez",
    "Hernández",
    "López",
    "González",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Núñez",
    "Peña",
    "Gómez",
    "Jiménez",
    "Muñoz",
    "Müller",
    "Schröder",
    "Schäfer",
    "Köhler",
    "Weiß",
    "Brontë",
    "Lefèvre",
    "Dubois",
    "Nguyễn",
    "Ødegård",
    "Fernández",
]

# (city, region, country, postal prefix, phone area code)
CITIES_US = [
    ("New York", "NY", "101", "212"),
    ("Brooklyn", "NY", "112", "718"),
    ("Los Angeles", "CA", "900", "213"),
    ("San Francisco", "CA", "941", "415"),
    ("San Diego", "CA", "921", "619"),
    ("San Jose", "CA", "951", "408"),
    ("Sacramento", "CA", "958", "916"),
    ("Seattle", "WA", "981", "206"),
    ("Portland", "OR", "972", "503"),
    ("Denver", "CO", "802", "303"),
    ("Phoenix", "AZ", "850", "602"),
    ("Austin", "TX", "787", "512"),
    ("Dallas", "TX", "752", "214"),
    ("Houston", "TX", "770", "713"),
    ("Chicago", "IL", "606", "312"),
    ("Minneapolis", "MN", "554", "612"),
    ("Detroit", "MI", "482", "313"),
    ("Boston", "MA", "021", "617"),
    ("Philadelphia", "PA", "191", "215"),
    ("Pittsburgh", "PA", "152", "412"),
    ("Atlanta", "GA", "303", "404"),
    ("Miami", "FL", "331", "305"),
    ("Orlando", "FL", "328", "407"),
    ("Tampa", "FL", "336", "813"),
    ("Charlotte", "NC", "282", "704"),
    ("Raleigh", "NC", "276", "919"),
    ("Nashville", "TN", "372", "615"),
    ("New Orleans", "LA", "701", "504"),
    ("Kansas City", "MO", "641", "816"),
    ("St. Louis", "MO", "631", "314"),
    ("Columbus", "OH", "432", "614"),
    ("Cleveland", "OH", "441", "216"),
    ("Indianapolis", "IN", "462", "317"),
    ("Milwaukee", "WI", "532", "414"),
    ("Salt Lake City", "UT", "841", "801"),
    ("Las Vegas", "NV", "891", "702"),
    ("Albuquerque", "NM", "871", "505"),
    ("Baltimore", "MD", "212", "410"),
    ("Washington", "DC", "200", "202"),
    ("Richmond", "VA", "232", "804"),
]
CITIES_CA = [
    ("Toronto", "ON", "M5V", "416"),
    ("Vancouver", "BC", "V6B", "604"),
    ("Montréal", "QC", "H2X", "514"),
]
CITIES_GB = [
    ("London", "England", "SW1", "20"),
    ("Manchester", "England", "M1", "161"),
    ("Edinburgh", "Scotland", "EH1", "131"),
]
CITIES_DE = [
    ("Berlin", "BE", "101", "30"),
    ("München", "BY", "803", "89"),
    ("Hamburg", "HH", "200", "40"),
]
CITIES_FR = [("Paris", "IDF", "750", "1"), ("Lyon", "ARA", "690", "4")]

# country code, cumulative share of customers, cities, phone country code
COUNTRIES = [
    ("US", 0.915, CITIES_US, "1"),
    ("CA", 0.940, CITIES_CA, "1"),
    ("GB", 0.965, CITIES_GB, "44"),
    ("DE", 0.985, CITIES_DE, "49"),
    ("FR", 1.000, CITIES_FR, "33"),
]

STREET_NAMES = [
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Main",
    "Sunset",
    "Mission",
    "Valencia",
    "Market",
    "Church",
    "Highland",
    "Ridge",
    "Lincoln",
    "Jefferson",
    "Madison",
    "Franklin",
    "River",
    "Spring",
    "Meadow",
    "Willow",
    "Chestnut",
    "Walnut",
    "Harbor",
    "Forest",
    "Union",
    "Grove",
    "Birch",
    "Dogwood",
    "Magnolia",
    "Aspen",
]
STREET_SUFFIXES = ["St", "Ave", "Blvd", "Rd", "Ln", "Dr", "Way", "Ct", "Pl", "Street", "Avenue"]
STREETS_GB = ["High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane"]
STREETS_DE = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee"]
STREETS_FR = ["rue de la Paix", "avenue Victor Hugo", "rue Lafayette", "boulevard Voltaire"]

EMAIL_DOMAINS_US = [
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "yahoo.com",
    "yahoo.com",
    "outlook.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.com",
    "icloud.com",
    "icloud.com",
    "aol.com",
    "comcast.net",
    "att.net",
    "proton.me",
]
EMAIL_DOMAINS_INTL = [
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "shaw.ca",
    "btinternet.com",
    "gmx.de",
    "web.de",
    "orange.fr",
    "free.fr",
    "yahoo.co.uk",
    "hotmail.fr",
]

CATEGORIES = {
    "Apparel": (
        "AP",
        [
            "Linen Shirt",
            "Merino Sweater",
            "Rain Jacket",
            "Chino Pants",
            "Wool Scarf",
            "Denim Jacket",
            "Cotton Tee",
            "Puffer Vest",
            "Knit Beanie",
            "Flannel Shirt",
        ],
    ),
    "Footwear": (
        "FW",
        ["Trail Runner", "Leather Boot", "Canvas Sneaker", "Wool Slipper", "Hiking Boot", "Sandal"],
    ),
    "Home": (
        "HM",
        [
            "Throw Pillow",
            "Linen Duvet",
            "Ceramic Vase",
            "Wool Throw",
            "Table Lamp",
            "Bath Towel Set",
            "Scented Candle",
            "Area Rug",
        ],
    ),
    "Kitchen": (
        "KT",
        [
            "Chef Knife",
            "Cast Iron Skillet",
            "Pour-Over Kettle",
            "Stoneware Mug",
            "Cutting Board",
            "Dutch Oven",
            "Espresso Cups",
        ],
    ),
    "Outdoor": (
        "OD",
        ["Camp Chair", "Insulated Bottle", "Daypack", "Sleeping Bag", "Headlamp", "Trekking Poles"],
    ),
    "Beauty": ("BT", ["Hand Cream", "Lip Balm", "Face Serum", "Bar Soap", "Shampoo"]),
    "Accessories": (
        "AC",
        ["Leather Wallet", "Canvas Tote", "Sunglasses", "Watch Strap", "Travel Pouch"],
    ),
}
VARIANTS = ["Classic", "Everyday", "Field", "Coastal", "Alpine"]


def _products() -> list[tuple[str, str, str, int]]:
    """(sku, name, category, price in cents), a fixed catalogue of ~230 products."""
    out = []
    for c_idx, (category, (code, nouns)) in enumerate(CATEGORIES.items()):
        for n_idx, noun in enumerate(nouns):
            for v_idx, variant in enumerate(VARIANTS):
                if (n_idx + v_idx + c_idx) % 5 == 4:
                    continue
                num = 1000 + n_idx * 10 + v_idx
                base = 900 + ((n_idx * 37 + c_idx * 53 + v_idx * 11) % 60) * 250
                price = base + (99 if (n_idx + v_idx) % 2 else 0) - (1 if v_idx % 2 else 0)
                out.append((f"{code}-{num}", f"{variant} {noun}", category, price))
    return out


PRODUCTS = _products()

# Non-product pages: (path, title)
PAGES = [
    ("/", f"{BRAND} | Home"),
    ("/c/apparel", f"Apparel | {BRAND}"),
    ("/c/footwear", f"Footwear | {BRAND}"),
    ("/c/home", f"Home | {BRAND}"),
    ("/c/kitchen", f"Kitchen | {BRAND}"),
    ("/c/outdoor", f"Outdoor | {BRAND}"),
    ("/c/sale", f"Sale | {BRAND}"),
    ("/stores", f"Find a store | {BRAND}"),
    ("/rewards", f"Larkspur Rewards | {BRAND}"),
    ("/cart", f"Your cart | {BRAND}"),
    ("/account", f"Your account | {BRAND}"),
    ("/help", f"Help centre | {BRAND}"),
]

SEARCH_TERMS = [
    "linen",
    "boots",
    "gift for dad",
    "candle",
    "rain jacket",
    "mug",
    "sale",
    "wool",
    "tote",
    "camp chair",
    "skillet",
    "sneakers size 9",
]

REFERRERS = [
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://www.instagram.com/",
    "https://www.facebook.com/",
    "https://www.pinterest.com/",
    "https://t.co/",
    "https://mail.google.com/",
    "https://duckduckgo.com/",
]

# Shortened user agents: the events stay compact.
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1) Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/129.0",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) Chrome/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/130.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.6) Firefox/131.0",
    "Mozilla/5.0 (iPad; CPU OS 17_5) Safari/604.1",
]
KIOSK_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) LarkspurKiosk/3.2"
LIBRARIES = [
    '{"name":"analytics.js","version":"2.11.1"}',
    '{"name":"analytics-next","version":"1.70.0"}',
    '{"name":"rudder-sdk-js","version":"3.7.4"}',
]

SUPPORT_SUBJECTS = [
    "Where is my order?",
    "Refund request, item arrived damaged",
    "Change shipping address",
    "Loyalty points missing after store purchase",
    "Please remove me from your mailing list",
    "Wrong size, need an exchange",
    "Promo code not working",
    "Cannot log in to my account",
    'Question about "Trail Runner" sizing',
    "Order cancelled by mistake",
    "Gift card balance",
    "Package marked delivered but not received",
    "Please cancel my membership",
    "I want to close my account",
]
SUPPORT_CHANNELS = ["email", "email", "email", "chat", "chat", "phone", "web_form"]

CAMPAIGN_THEMES = [
    "Weekly Edit",
    "New Arrivals",
    "Flash Sale, 24 hours only",
    "Members Weekend",
    "Back in Stock",
    "Gift Guide",
    "Seasonal Sale",
    '"Last chance" reminder',
    "Kitchen Favourites",
    "Trail Season",
]

STORE_PAYMENT_METHODS = [
    "visa",
    "visa",
    "mastercard",
    "amex",
    "debit",
    "cash",
    "cash",
    "apple_pay",
    "google_pay",
    "gift_card",
]

KIOSK_COUNT = 24
STORE_COUNT = 48

# Identifiers typed into forms by many unrelated people.
JUNK_EMAIL = "test@test.com"
JUNK_PHONE = "0000000000"


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: list[str]) -> str:
    return "[" + ", ".join(sql_str(v) for v in values) + "]"


def sql_int_list(values: list[int]) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"
