// Word lists and formats for the generator. Hand-written samples; the formats (what a CA
// postcode or a UA phone looks like) follow what randomuser.me API v1.4 actually sends.
#include "sources/generator_data.h"

#include "sources/generator.h"

namespace spate::generator_data {
namespace {

using SV = std::string_view;

constexpr SV kMr[] = {"Mr"};
constexpr SV kEnglishFemale[] = {"Mrs", "Ms", "Miss"};
constexpr SV kFrenchMale[] = {"Monsieur"};
constexpr SV kFrenchFemale[] = {"Madame", "Mademoiselle"};
// France: the API mixes the English and the French forms.
constexpr SV kFranceMale[] = {"Mr", "Monsieur"};
constexpr SV kFranceFemale[] = {"Mrs", "Ms", "Miss", "Madame", "Mademoiselle"};

// Patterns shared by several nationalities.
constexpr Pattern kUsPhone = {{"(###) ###-####"}};
constexpr Pattern kDashedPhone = {{"(###)-###-####"}};
constexpr Pattern kEightDigits = {{"########"}};
constexpr Pattern kNineDigits = {{"#########"}};
constexpr Postcode kFiveDigits = {PostcodeKind::kNumber, 10000, 99999};

// ---------------------------------------------------------------------------------------- AU
constexpr SV kAuMale[] = {"Jack",  "Oliver",   "William", "Noah",  "Thomas", "James",
                          "Lucas", "Harrison", "Cooper",  "Riley", "Liam",   "Ethan",
                          "Mason", "Lachlan",  "Hunter",  "Leon"};
constexpr SV kAuFemale[] = {"Charlotte", "Olivia", "Amelia", "Isla",    "Mia",    "Chloe",
                            "Ruby",      "Grace",  "Zoe",    "Matilda", "Sienna", "Ava",
                            "Harper",    "Evie",   "Lily",   "Kenzi"};
constexpr SV kAuLast[] = {"Smith",    "Jones",   "Williams", "Brown",    "Wilson",   "Taylor",
                          "Nguyen",   "Johnson", "Martin",   "White",    "Anderson", "Walker",
                          "Thompson", "Harris",  "Ryan",     "Robinson", "Kelly",    "Nichols"};
constexpr SV kAuStreets[] = {"George St",   "Pitt St",      "Queen St",        "Elizabeth St",
                             "Collins St",  "Flinders St",  "King William St", "Hay St",
                             "Swanston St", "Photinia Ave", "Bollinger Rd"};
constexpr SV kAuCities[] = {"Sydney",     "Melbourne",  "Brisbane", "Perth",    "Adelaide",
                            "Hobart",     "Darwin",     "Canberra", "Geelong",  "Newcastle",
                            "Wollongong", "Townsville", "Cairns",   "Ballarat", "Bendigo"};
constexpr SV kAuStates[] = {
    "New South Wales", "Victoria", "Queensland",         "Western Australia",
    "South Australia", "Tasmania", "Northern Territory", "Australian Capital Territory"};

// ---------------------------------------------------------------------------------------- BR
constexpr SV kBrMale[] = {"Miguel",  "Arthur",  "Heitor", "Bernardo", "Davi",   "Théo",
                          "Lorenzo", "Gabriel", "Pedro",  "Benício",  "Samuel", "Matheus",
                          "João",    "Rafael",  "Caio",   "Otávio"};
constexpr SV kBrFemale[] = {"Helena",   "Alice",   "Laura",   "Manuela", "Valentina", "Sophia",
                            "Isabella", "Heloísa", "Luíza",   "Júlia",   "Lorena",    "Lívia",
                            "Maria",    "Cecília", "Antônia", "Cátia"};
constexpr SV kBrLast[] = {"Silva",   "Santos",   "Oliveira", "Souza", "Rodrigues", "Ferreira",
                          "Alves",   "Pereira",  "Lima",     "Gomes", "Costa",     "Ribeiro",
                          "Martins", "Carvalho", "Araújo",   "Melo",  "Barbosa",   "Rocha"};
// The API really sends many Brazilian street names with a trailing space.
constexpr SV kBrStreets[] = {
    "Rua Sete de Setembro ", "Rua da Paz ",         "Avenida Brasil", "Rua Quinze de Novembro ",
    "Rua São José ",         "Rua Santa Catarina ", "Rua Bahia ",     "Travessa das Flores",
    "Rua Dom Pedro II ",     "Avenida Paulista"};
constexpr SV kBrCities[] = {"São Paulo",     "Rio de Janeiro", "Belo Horizonte", "Salvador",
                            "Fortaleza",     "Curitiba",       "Manaus",         "Recife",
                            "Porto Alegre",  "Goiânia",        "Belém",          "Campinas",
                            "Florianópolis", "Natal",          "Maceió"};
constexpr SV kBrStates[] = {"São Paulo", "Rio de Janeiro",    "Minas Gerais", "Bahia",
                            "Paraná",    "Rio Grande do Sul", "Pernambuco",   "Ceará",
                            "Pará",      "Santa Catarina",    "Goiás",        "Amazonas",
                            "Maranhão",  "Espírito Santo",    "Rondônia"};

// ---------------------------------------------------------------------------------------- CA
constexpr SV kCaMale[] = {"Liam",      "Noah",   "William", "Benjamin", "Lucas", "Logan",
                          "Jacob",     "Ethan",  "Nathan",  "Samuel",   "Owen",  "Félix",
                          "Alexander", "Thomas", "Mason",   "Daniel"};
constexpr SV kCaFemale[] = {"Olivia", "Emma",   "Charlotte", "Amelia",   "Sophia",  "Chloe",
                            "Emily",  "Ava",    "Léa",       "Florence", "Abigail", "Maya",
                            "Zoe",    "Sophie", "Madison",   "Clara"};
constexpr SV kCaLast[] = {"Smith",    "Brown",    "Tremblay",  "Martin",   "Roy",   "Wilson",
                          "Gagnon",   "Johnson",  "MacDonald", "Taylor",   "Côté",  "Campbell",
                          "Anderson", "Bouchard", "Lee",       "Gauthier", "White", "Morin"};
constexpr SV kCaStreets[] = {"Main St",           "King St",   "Yonge St", "Bay St",
                             "Queen St",          "Dundas St", "Park Rd",  "Maple Ave",
                             "Concession Road 6", "Pine Rd",   "Bloor St", "Dufferin St"};
constexpr SV kCaCities[] = {"Toronto",  "Montreal", "Vancouver", "Calgary",  "Edmonton",
                            "Ottawa",   "Winnipeg", "Québec",    "Hamilton", "Halifax",
                            "Victoria", "Regina",   "Saskatoon", "Kingston", "Moncton"};
constexpr SV kCaStates[] = {"Ontario",
                            "Québec",
                            "British Columbia",
                            "Alberta",
                            "Manitoba",
                            "Saskatchewan",
                            "Nova Scotia",
                            "New Brunswick",
                            "Newfoundland and Labrador",
                            "Prince Edward Island",
                            "Northwest Territories",
                            "Yukon",
                            "Nunavut"};

// ---------------------------------------------------------------------------------------- CH
constexpr SV kChMale[] = {"Luca",    "Noah",  "Leon",   "Elias", "Liam",   "Matteo",
                          "Gabriel", "Nico",  "Julien", "Louis", "Samuel", "Jonas",
                          "Lars",    "Fabio", "Marco",  "Loïc"};
constexpr SV kChFemale[] = {"Mia",    "Emma",  "Lina",   "Mila",  "Lea",    "Elena",
                            "Sofia",  "Chloé", "Alina",  "Julie", "Léonie", "Zoé",
                            "Giulia", "Anna",  "Céline", "Noémie"};
constexpr SV kChLast[] = {"Müller",    "Meier", "Schmid",  "Keller",     "Weber",  "Huber",
                          "Schneider", "Meyer", "Steiner", "Fischer",    "Gerber", "Brunner",
                          "Baumann",   "Favre", "Rochat",  "Bernasconi", "Rossi",  "Perret"};
constexpr SV kChStreets[] = {"Rue du Rhône",
                             "Bahnhofstrasse",
                             "Rue de la Gare",
                             "Place du Marché",
                             "Chemin des Vignes",
                             "Rue de Lausanne",
                             "Via Nassa",
                             "Rue du Lac",
                             "Avenue de la Paix",
                             "Dorfstrasse",
                             "Place de L'Abbé-Franz-Stock"};
constexpr SV kChCities[] = {"Zürich",     "Genève",   "Basel",      "Lausanne", "Bern",
                            "Winterthur", "Luzern",   "St. Gallen", "Lugano",   "Biel/Bienne",
                            "Thun",       "Fribourg", "Neuchâtel",  "Sion",     "Montreux"};
constexpr SV kChStates[] = {"Zürich",     "Bern",        "Luzern",       "Uri",
                            "Schwyz",     "Glarus",      "Zug",          "Fribourg",
                            "Solothurn",  "Basel-Stadt", "Schaffhausen", "Appenzell Ausserrhoden",
                            "St. Gallen", "Graubünden",  "Aargau",       "Thurgau",
                            "Ticino",     "Vaud",        "Valais",       "Neuchâtel",
                            "Genève",     "Jura"};

// ---------------------------------------------------------------------------------------- DE
constexpr SV kDeMale[] = {"Lukas",      "Leon",   "Finn",  "Jonas", "Paul",   "Felix",
                          "Maximilian", "Elias",  "Ben",   "Noah",  "Jürgen", "Klaus",
                          "Dieter",     "Günter", "Horst", "Björn"};
constexpr SV kDeFemale[] = {"Mia",      "Emma",  "Hannah",  "Sophia", "Lea",    "Marie",
                            "Lena",     "Anna",  "Johanna", "Jana",   "Ursula", "Renate",
                            "Brigitte", "Käthe", "Gisela",  "Loretta"};
constexpr SV kDeLast[] = {"Müller",  "Schmidt",  "Schneider", "Fischer",    "Weber",
                          "Meyer",   "Wagner",   "Becker",    "Schulz",     "Hoffmann",
                          "Schäfer", "Koch",     "Bauer",     "Richter",    "Klein",
                          "Wolf",    "Schröder", "Neumann",   "Zimmermann", "Krüger"};
constexpr SV kDeStreets[] = {"Hauptstraße", "Schulstraße",   "Gartenstraße", "Bahnhofstraße",
                             "Dorfstraße",  "Bergstraße",    "Birkenweg",    "Lindenstraße",
                             "Kirchgasse",  "Am Sportplatz", "Mühlenweg"};
constexpr SV kDeCities[] = {"Berlin",    "Hamburg",    "München",  "Köln",     "Frankfurt am Main",
                            "Stuttgart", "Düsseldorf", "Leipzig",  "Dortmund", "Essen",
                            "Bremen",    "Dresden",    "Hannover", "Nürnberg", "Görlitz"};
constexpr SV kDeStates[] = {"Baden-Württemberg",
                            "Bayern",
                            "Berlin",
                            "Brandenburg",
                            "Bremen",
                            "Hamburg",
                            "Hessen",
                            "Mecklenburg-Vorpommern",
                            "Niedersachsen",
                            "Nordrhein-Westfalen",
                            "Rheinland-Pfalz",
                            "Saarland",
                            "Sachsen",
                            "Sachsen-Anhalt",
                            "Schleswig-Holstein",
                            "Thüringen"};

// ---------------------------------------------------------------------------------------- DK
constexpr SV kDkMale[] = {"William", "Noah",   "Oscar",    "Lucas",  "Carl", "Victor",
                          "Malthe",  "Emil",   "Frederik", "Magnus", "Mads", "Søren",
                          "Rasmus",  "Mikkel", "Asger",    "Sander"};
constexpr SV kDkFemale[] = {"Emma",   "Ida",   "Clara", "Alma",  "Freja", "Ella",
                            "Sofie",  "Anna",  "Karla", "Laura", "Nanna", "Mathilde",
                            "Astrid", "Signe", "Maja",  "Bodil"};
constexpr SV kDkLast[] = {"Jensen",      "Nielsen", "Hansen",     "Pedersen",  "Andersen",
                          "Christensen", "Larsen",  "Sørensen",   "Rasmussen", "Jørgensen",
                          "Petersen",    "Madsen",  "Kristensen", "Olsen",     "Thomsen",
                          "Møller",      "Poulsen", "Kjær"};
constexpr SV kDkStreets[] = {"Vestergade",  "Østergade", "Nørregade", "Søndergade",
                             "Skovvej",     "Kirkevej",  "Møllevej",  "Engvej",
                             "Strandvejen", "Æblehaven", "Ågade",     "H.C. Lumbyes Vej"};
constexpr SV kDkCities[] = {"København", "Aarhus",    "Odense",  "Aalborg",       "Esbjerg",
                            "Randers",   "Kolding",   "Horsens", "Vejle",         "Roskilde",
                            "Herning",   "Silkeborg", "Næstved", "Frederiksberg", "Helsingør"};
constexpr SV kDkStates[] = {"Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland"};

// ---------------------------------------------------------------------------------------- ES
constexpr SV kEsMale[] = {"Hugo",      "Martín", "Lucas",  "Mateo",  "Leo",    "Daniel",
                          "Alejandro", "Pablo",  "Manuel", "Álvaro", "Adrián", "Javier",
                          "Sergio",    "Iván",   "Andrés", "Marcos"};
constexpr SV kEsFemale[] = {"Lucía",   "Sofía", "Martina", "María", "Julia", "Paula",
                            "Valeria", "Emma",  "Daniela", "Carla", "Alba",  "Noa",
                            "Elena",   "Inés",  "Nerea",   "Miriam"};
constexpr SV kEsLast[] = {"García",   "Rodríguez", "González",  "Fernández", "López",
                          "Martínez", "Sánchez",   "Pérez",     "Gómez",     "Martín",
                          "Jiménez",  "Ruiz",      "Hernández", "Díaz",      "Moreno",
                          "Muñoz",    "Álvarez",   "Romero",    "Navarro",   "Ibáñez"};
constexpr SV kEsStreets[] = {"Calle Mayor",     "Calle de la Luna",     "Avenida de América",
                             "Calle de Toledo", "Paseo de Extremadura", "Calle del Prado",
                             "Calle de Atocha", "Ronda de Valencia",    "Calle de Bravo Murillo",
                             "Calle de Alcalá", "Plaza de España"};
constexpr SV kEsCities[] = {"Madrid",   "Barcelona", "Valencia", "Sevilla",
                            "Zaragoza", "Málaga",    "Murcia",   "Palma de Mallorca",
                            "Bilbao",   "Alicante",  "Córdoba",  "Valladolid",
                            "Vigo",     "Gijón",     "Logroño"};
constexpr SV kEsStates[] = {"Andalucía",
                            "Aragón",
                            "Asturias",
                            "Islas Baleares",
                            "Canarias",
                            "Cantabria",
                            "Castilla y León",
                            "Castilla la Mancha",
                            "Cataluña",
                            "Comunidad Valenciana",
                            "Extremadura",
                            "Galicia",
                            "Comunidad de Madrid",
                            "Región de Murcia",
                            "Navarra",
                            "País Vasco",
                            "La Rioja",
                            "Ceuta",
                            "Melilla"};

// ---------------------------------------------------------------------------------------- FI
constexpr SV kFiMale[] = {"Onni",   "Elias", "Eino", "Väinö", "Leo",   "Oliver", "Aatu",   "Eetu",
                          "Joonas", "Mikko", "Juho", "Ville", "Lauri", "Toivo",  "Jaakko", "Vilho"};
constexpr SV kFiFemale[] = {"Aino",  "Eevi", "Sofia",  "Helmi", "Linnea", "Aada",
                            "Venla", "Ella", "Siiri",  "Iida",  "Emilia", "Pihla",
                            "Sanni", "Neea", "Kerttu", "Jenna"};
constexpr SV kFiLast[] = {"Korhonen", "Virtanen",  "Mäkinen",  "Nieminen", "Mäkelä",   "Hämäläinen",
                          "Laine",    "Heikkinen", "Koskinen", "Järvinen", "Lehtonen", "Lehtinen",
                          "Saarinen", "Salminen",  "Heinonen", "Niemi",    "Salo",     "Kinnunen"};
constexpr SV kFiStreets[] = {
    "Mannerheimintie", "Hämeenkatu",  "Aleksanterinkatu", "Pispalan Valtatie", "Esplanadi",
    "Satakennankatu",  "Tehtaankatu", "Bulevardi",        "Itsenäisyydenkatu", "Kauppakatu"};
constexpr SV kFiCities[] = {"Helsinki", "Espoo",        "Tampere",     "Vantaa", "Oulu",
                            "Turku",    "Jyväskylä",    "Lahti",       "Kuopio", "Pori",
                            "Joensuu",  "Lappeenranta", "Hämeenlinna", "Vaasa",  "Seinäjoki"};
constexpr SV kFiStates[] = {"Uusimaa",
                            "Pirkanmaa",
                            "Southwest Finland",
                            "North Ostrobothnia",
                            "Central Finland",
                            "Northern Savonia",
                            "Päijät-Häme",
                            "Satakunta",
                            "Lapland",
                            "Kymenlaakso",
                            "Åland",
                            "Kainuu"};

// ---------------------------------------------------------------------------------------- FR
constexpr SV kFrMale[] = {"Gabriel", "Léo",    "Raphaël", "Louis", "Lucas",    "Hugo",
                          "Arthur",  "Jules",  "Nathan",  "Théo",  "Baptiste", "Mathis",
                          "Clément", "Maxime", "Noé",     "Dylan"};
constexpr SV kFrFemale[] = {"Jade",    "Louise", "Emma",   "Alice",   "Chloé", "Lina",
                            "Léa",     "Manon",  "Inès",   "Camille", "Zoé",   "Juliette",
                            "Margaux", "Élise",  "Noémie", "Lison"};
constexpr SV kFrLast[] = {"Martin",  "Bernard",  "Dubois",   "Thomas",   "Robert",
                          "Richard", "Petit",    "Durand",   "Leroy",    "Moreau",
                          "Simon",   "Laurent",  "Lefebvre", "Michel",   "Garcia",
                          "David",   "Bertrand", "Roux",     "Fontaine", "Lefèvre"};
constexpr SV kFrStreets[] = {"Rue de la République", "Rue Victor-Hugo",     "Rue Pasteur",
                             "Avenue Jean-Jaurès",   "Rue du Bât-d'Argent", "Place de l'Église",
                             "Rue des Écoles",       "Rue Saint-Georges",   "Quai Perrache",
                             "Boulevard Gambetta",   "Rue de l'Abbé-Groult"};
constexpr SV kFrCities[] = {"Paris",  "Marseille",  "Lyon",          "Toulouse", "Nice",
                            "Nantes", "Strasbourg", "Montpellier",   "Bordeaux", "Lille",
                            "Rennes", "Reims",      "Saint-Étienne", "Le Havre", "Orléans"};
constexpr SV kFrStates[] = {
    "Ain",         "Aisne",   "Allier",   "Ardèche", "Aveyron",          "Bouches-du-Rhône",
    "Calvados",    "Cantal",  "Charente", "Corrèze", "Côte-d'Or",        "Dordogne",
    "Finistère",   "Gironde", "Hérault",  "Isère",   "Loire-Atlantique", "Nord",
    "Puy-de-Dôme", "Vendée"};

// ---------------------------------------------------------------------------------------- GB
constexpr SV kGbMale[] = {"Oliver", "George",  "Harry", "Jack",   "Charlie", "Jacob",
                          "Alfie",  "Freddie", "Oscar", "Arthur", "Leo",     "Archie",
                          "Theo",   "Joshua",  "Henry", "Carter"};
constexpr SV kGbFemale[] = {"Olivia", "Amelia",  "Isla",   "Ava",      "Emily", "Isabella",
                            "Poppy",  "Jessica", "Sophie", "Florence", "Evie",  "Ellie",
                            "Freya",  "Phoebe",  "Millie", "Imogen"};
constexpr SV kGbLast[] = {"Smith",  "Jones",   "Williams", "Taylor", "Davies",   "Evans",
                          "Thomas", "Roberts", "Walker",   "Wright", "Robinson", "Thompson",
                          "White",  "Hughes",  "Edwards",  "Green",  "Hall",     "Wood"};
constexpr SV kGbStreets[] = {"High Street", "Station Road",  "Main Street",   "Park Road",
                             "Church Lane", "London Road",   "Victoria Road", "Green Lane",
                             "Manor Road",  "Church Street", "Queensway",     "Mill Lane"};
constexpr SV kGbCities[] = {"London",    "Birmingham", "Manchester", "Leeds",      "Glasgow",
                            "Sheffield", "Bradford",   "Liverpool",  "Edinburgh",  "Bristol",
                            "Cardiff",   "Leicester",  "Coventry",   "Nottingham", "Belfast"};
constexpr SV kGbStates[] = {
    "Greater London", "West Midlands", "Greater Manchester", "West Yorkshire", "Merseyside",
    "Kent",           "Essex",         "Hampshire",          "Lancashire",     "Surrey",
    "Devon",          "Norfolk",       "Cornwall",           "Tyne and Wear",  "Staffordshire"};

// ---------------------------------------------------------------------------------------- IE
constexpr SV kIeMale[] = {"Jack",    "James",   "Noah",    "Conor",   "Daniel", "Seán",
                          "Patrick", "Darragh", "Cian",    "Michael", "Oisín",  "Liam",
                          "Fionn",   "Tadhg",   "Cillian", "Russell"};
constexpr SV kIeFemale[] = {"Emily",  "Grace",   "Fiadh",   "Sophie",  "Hannah", "Amelia",
                            "Ava",    "Ellie",   "Aoife",   "Saoirse", "Niamh",  "Caoimhe",
                            "Róisín", "Siobhán", "Clodagh", "Megan"};
constexpr SV kIeLast[] = {"Murphy",    "Kelly",   "O'Sullivan", "Walsh",   "Smith",  "O'Brien",
                          "Byrne",     "Ryan",    "O'Connor",   "O'Neill", "Doyle",  "McCarthy",
                          "Gallagher", "Doherty", "Kennedy",    "Lynch",   "Murray", "Quinn"};
constexpr SV kIeStreets[] = {"Main Street",    "Church Road",    "Strand Road", "O'Connell Street",
                             "Patrick Street", "Grafton Street", "Mill Road",   "The Crescent",
                             "Green Lane",     "Castle Street"};
constexpr SV kIeCities[] = {"Dublin",   "Cork",     "Limerick", "Galway", "Waterford",
                            "Drogheda", "Kilkenny", "Wexford",  "Sligo",  "Athlone",
                            "Dundalk",  "Bray",     "Navan",    "Ennis",  "Tralee"};
constexpr SV kIeStates[] = {"Dublin", "Cork",    "Galway",    "Kerry",   "Limerick",
                            "Mayo",   "Donegal", "Wexford",   "Wicklow", "Kildare",
                            "Meath",  "Clare",   "Tipperary", "Sligo",   "Louth"};

// ---------------------------------------------------------------------------------------- IN
constexpr SV kInMale[] = {"Aarav",   "Vivaan",  "Aditya",  "Vihaan", "Arjun", "Sai",
                          "Reyansh", "Krishna", "Ishaan",  "Rohan",  "Kabir", "Ansh",
                          "Dhruv",   "Kiaan",   "Shaurya", "Kahaan"};
constexpr SV kInFemale[] = {"Saanvi", "Aanya",  "Aadhya", "Aaradhya", "Ananya", "Pari",
                            "Diya",   "Navya",  "Myra",   "Anika",    "Kiara",  "Ira",
                            "Riya",   "Prisha", "Meera",  "Tanvi"};
constexpr SV kInLast[] = {"Sharma", "Verma",    "Gupta",  "Patel", "Reddy",  "Nair",
                          "Iyer",   "Rao",      "Singh",  "Kumar", "Das",    "Mehta",
                          "Joshi",  "Kulkarni", "Shetty", "Menon", "Chopra", "Bhat"};
constexpr SV kInStreets[] = {
    "MG Road",      "Station Road", "Nehru Road", "Gandhi Nagar", "Park Street",
    "Brigade Rd",   "Linking Rd",   "Church St",  "Residency Rd", "Lal Bahadur Shastri Marg",
    "Racecource Rd"};
constexpr SV kInCities[] = {"Mumbai",  "Delhi",   "Bengaluru", "Hyderabad", "Ahmedabad",
                            "Chennai", "Kolkata", "Pune",      "Jaipur",    "Lucknow",
                            "Kanpur",  "Nagpur",  "Indore",    "Bhopal",    "Patna"};
constexpr SV kInStates[] = {"Maharashtra",   "Delhi",          "Karnataka",   "Telangana",
                            "Gujarat",       "Tamil Nadu",     "West Bengal", "Rajasthan",
                            "Uttar Pradesh", "Madhya Pradesh", "Bihar",       "Kerala",
                            "Punjab",        "Odisha",         "Assam",       "Mizoram"};

// ---------------------------------------------------------------------------------------- IR
// Persian script, as the API sends it (Persian yeh U+06CC and keheh U+06A9).
constexpr SV kIrMale[] = {"محمد", "علی",   "حسین", "رضا", "امیر",  "مهدی",  "آرمین", "دانیال",
                          "سینا", "پارسا", "کیان", "آرش", "بهرام", "کوروش", "سامان", "نیما"};
constexpr SV kIrFemale[] = {"فاطمه", "زهرا", "مریم",  "نرگس",  "یسنا",  "سارا", "نیلوفر", "مهسا",
                            "پریسا", "آیدا", "شیرین", "الناز", "ستاره", "هستی", "رها",    "ژینا"};
constexpr SV kIrLast[] = {"محمدی", "حسینی",  "احمدی", "رضایی", "موسوی",  "کریمی", "جعفری", "صادقی",
                          "رحیمی", "کامروا", "صدر",   "نوری",  "تهرانی", "شریفی", "باقری", "قاسمی"};
constexpr SV kIrStreets[] = {"میدان آزادی", "ولیعصر",      "شهید بهشتی", "انقلاب",     "پارک لاله",
                             "فلسطین",      "کارگر شمالی", "شریعتی",     "میدان امام", "هویزه"};
constexpr SV kIrCities[] = {"تهران", "مشهد",   "اصفهان", "کرج",      "شیراز",
                            "تبریز", "قم",     "اهواز",  "کرمانشاه", "ارومیه",
                            "رشت",   "زاهدان", "همدان",  "یزد",      "اردبیل"};
constexpr SV kIrStates[] = {"تهران",  "خراسان رضوی", "اصفهان",   "البرز", "فارس", "آذربایجان شرقی",
                            "قم",     "خوزستان",     "کرمانشاه", "گیلان", "یزد",  "همدان",
                            "اردبیل", "کرمان",       "مازندران"};

// ---------------------------------------------------------------------------------------- MX
constexpr SV kMxMale[] = {"Santiago",  "Mateo",   "Sebastián",    "Leonardo",  "Matías",
                          "Emiliano",  "Diego",   "Miguel Ángel", "José Luis", "Juan Carlos",
                          "Alejandro", "Rodrigo", "Jesús",        "Ricardo",   "Héctor"};
constexpr SV kMxFemale[] = {"Sofía",   "Valentina", "Regina",    "María José", "Ximena",
                            "Camila",  "Renata",    "Guadalupe", "Fernanda",   "Andrea",
                            "Mariana", "Daniela",   "Itzel",     "Dolores",    "Rocío"};
constexpr SV kMxLast[] = {"Hernández", "García",  "Martínez", "López",   "González", "Pérez",
                          "Rodríguez", "Sánchez", "Ramírez",  "Cruz",    "Flores",   "Gómez",
                          "Morales",   "Vázquez", "Reyes",    "Jiménez", "Torres",   "Rendón"};
constexpr SV kMxStreets[] = {"Avenida Juárez",          "Calle Hidalgo",   "Calzada de Tlalpan",
                             "Avenida Insurgentes Sur", "Privada Morelos", "Callejón del Beso",
                             "Boulevard Díaz Ordaz",    "Cerrada Allende", "Andador Zaragoza",
                             "Circuito Madero"};
constexpr SV kMxCities[] = {
    "Ciudad de México", "Guadalajara",      "Monterrey", "Puebla", "Tijuana",   "León",
    "Juárez",           "Zapopan",          "Mérida",    "Cancún", "Querétaro", "Aguascalientes",
    "Morelia",          "Oaxaca de Juárez", "Chihuahua"};
constexpr SV kMxStates[] = {
    "Aguascalientes", "Baja California", "Chiapas", "Chihuahua", "Coahuila",  "Colima",  "Durango",
    "Guanajuato",     "Guerrero",        "Hidalgo", "Jalisco",   "Michoacán", "Morelos", "Nayarit",
    "Nuevo León",     "Oaxaca",          "Puebla",  "Querétaro", "Sinaloa",   "Sonora",  "Tabasco",
    "Tlaxcala",       "Veracruz",        "Yucatán", "Zacatecas"};

// ---------------------------------------------------------------------------------------- NL
constexpr SV kNlMale[] = {"Daan",  "Sem",  "Lucas", "Levi",  "Finn", "Bram",   "Jesse", "Thijs",
                          "Ruben", "Lars", "Sven",  "Joris", "Koen", "Pieter", "Gijs",  "Koenraad"};
constexpr SV kNlFemale[] = {"Emma",  "Julia", "Mila",  "Tess",  "Sophie", "Zoë", "Sara", "Nora",
                            "Fenna", "Lotte", "Anouk", "Femke", "Sanne",  "Eva", "Maud", "Josja"};
constexpr SV kNlLast[] = {"De Jong", "Jansen",   "De Vries",   "Van den Berg", "Van Dijk",
                          "Bakker",  "Janssen",  "Visser",     "Smit",         "Meijer",
                          "De Boer", "Mulder",   "De Groot",   "Bos",          "Vos",
                          "Peters",  "Hendriks", "Van Leeuwen"};
constexpr SV kNlStreets[] = {"Kerkstraat",       "Dorpsstraat",      "Schoolstraat", "Molenweg",
                             "Stationsweg",      "Prinsengracht",    "Julianalaan",  "Beatrixlaan",
                             "Wilhelminastraat", "Nieuwe Binnenweg", "Oudegracht"};
constexpr SV kNlCities[] = {"Amsterdam", "Rotterdam", "Den Haag", "Utrecht",  "Eindhoven",
                            "Groningen", "Tilburg",   "Almere",   "Breda",    "Nijmegen",
                            "Apeldoorn", "Haarlem",   "Arnhem",   "Zaanstad", "'s-Hertogenbosch"};
constexpr SV kNlStates[] = {"Drenthe",    "Flevoland", "Friesland",     "Gelderland",
                            "Groningen",  "Limburg",   "Noord-Brabant", "Noord-Holland",
                            "Overijssel", "Utrecht",   "Zeeland",       "Zuid-Holland"};

// ---------------------------------------------------------------------------------------- NO
constexpr SV kNoMale[] = {"Jakob",  "Emil",   "Noah",  "Oliver", "Filip", "William",
                          "Lucas",  "Henrik", "Aksel", "Magnus", "Ola",   "Håkon",
                          "Sindre", "Øyvind", "Bjørn", "Ibrahim"};
constexpr SV kNoFemale[] = {"Nora",     "Emma",   "Ella",   "Maja",  "Olivia", "Sofie",
                            "Ingrid",   "Astrid", "Sigrid", "Frida", "Hedda",  "Solveig",
                            "Ingeborg", "Tiril",  "Åse",    "Iben"};
constexpr SV kNoLast[] = {"Hansen",   "Johansen",  "Olsen",       "Larsen", "Andersen",
                          "Pedersen", "Nilsen",    "Kristiansen", "Jensen", "Karlsen",
                          "Johnsen",  "Pettersen", "Eriksen",     "Berg",   "Haugen",
                          "Hagen",    "Bakken",    "Sæther",      "Løken",  "Strøm"};
constexpr SV kNoStreets[] = {"Storgata",    "Kirkeveien",  "Skogveien",       "Fjellveien",
                             "Bjørkeveien", "Solheimgata", "Kongens gate",    "Dronningens gate",
                             "Tollbugata",  "Åsveien",     "Øvre Slottsgate", "Alunsjøveien"};
constexpr SV kNoCities[] = {"Oslo",        "Bergen",       "Trondheim",  "Stavanger", "Drammen",
                            "Fredrikstad", "Kristiansand", "Sandnes",    "Tromsø",    "Sarpsborg",
                            "Skien",       "Ålesund",      "Sandefjord", "Haugesund", "Bodø"};
constexpr SV kNoStates[] = {"Oslo",
                            "Akershus",
                            "Østfold",
                            "Buskerud",
                            "Vestfold",
                            "Telemark",
                            "Aust-Agder",
                            "Vest-Agder",
                            "Rogaland",
                            "Hordaland",
                            "Sogn og Fjordane",
                            "Møre og Romsdal",
                            "Sør-Trøndelag",
                            "Nord-Trøndelag",
                            "Nordland",
                            "Troms - Romsa",
                            "Finnmark - Finnmárku",
                            "Hedmark",
                            "Oppland"};

// ---------------------------------------------------------------------------------------- NZ
constexpr SV kNzMale[] = {"Oliver", "Jack",    "Noah",   "Leo",   "George", "Charlie",
                          "Lucas",  "William", "Hunter", "Mason", "Nikau",  "Ari",
                          "Tama",   "Liam",    "Archer", "Tane"};
constexpr SV kNzFemale[] = {"Isla", "Charlotte", "Olivia", "Amelia", "Willow", "Ava",
                            "Mia",  "Harper",    "Aria",   "Ruby",   "Ivy",    "Mila",
                            "Kaia", "Manaia",    "Kora",   "Kayla"};
constexpr SV kNzLast[] = {"Smith",    "Wilson",   "Williams", "Brown",  "Taylor", "Jones",
                          "Anderson", "Thompson", "Walker",   "Thomas", "White",  "Martin",
                          "Clarke",   "Robinson", "Harris",   "Ngata",  "Parata", "Tipene"};
constexpr SV kNzStreets[] = {
    "Queen Street",  "Karangahape Road", "Lambton Quay",  "Colombo Street", "Cuba Street",
    "Ponsonby Road", "Great North Road", "Dominion Road", "Riccarton Road", "Tory Street"};
constexpr SV kNzCities[] = {"Auckland",     "Wellington", "Christchurch", "Hamilton",
                            "Tauranga",     "Napier",     "Dunedin",      "Palmerston North",
                            "Nelson",       "Rotorua",    "New Plymouth", "Whangarei",
                            "Invercargill", "Whanganui",  "Gisborne"};
constexpr SV kNzStates[] = {"Auckland",      "Wellington",  "Canterbury", "Waikato",
                            "Bay of Plenty", "Hawke's Bay", "Otago",      "Manawatu-Wanganui",
                            "Nelson",        "Taranaki",    "Northland",  "Southland",
                            "Gisborne",      "Marlborough", "Tasman",     "West Coast"};

// ---------------------------------------------------------------------------------------- RS
constexpr SV kRsMale[] = {"Luka",  "Stefan", "Nikola",  "Lazar",  "Marko", "Aleksa",
                          "Đorđe", "Miloš",  "Nemanja", "Dušan",  "Vuk",   "Petar",
                          "Uroš",  "Filip",  "Ljubiša", "Velibor"};
constexpr SV kRsFemale[] = {"Milica",   "Jovana", "Ana",     "Teodora", "Sara",  "Anđela",
                            "Katarina", "Jelena", "Marija",  "Dragana", "Ivana", "Nevena",
                            "Mina",     "Tamara", "Snežana", "Ljuba"};
constexpr SV kRsLast[] = {"Jovanović",  "Petrović", "Nikolić",   "Marković", "Đorđević",
                          "Stojanović", "Ilić",     "Stanković", "Pavlović", "Milošević",
                          "Popović",    "Đukić",    "Savić",     "Kostić",   "Tomić",
                          "Živković",   "Lukić",    "Mitrović"};
// As in BR, the API sends some Serbian street names with a trailing space.
constexpr SV kRsStreets[] = {"Kneza Miloša", "Bulevar oslobođenja ",
                             "Cara Dušana",  "Vojvode Stepe",
                             "Njegoševa",    "Svetog Save ",
                             "Takovska",     "Zmaj Jovina",
                             "Kralja Petra", "Nemanjina"};
constexpr SV kRsCities[] = {"Belgrade",  "Novi Sad", "Niš",   "Kragujevac", "Subotica",
                            "Zrenjanin", "Pančevo",  "Čačak", "Kraljevo",   "Novi Pazar",
                            "Smederevo", "Leskovac", "Šabac", "Valjevo",    "Vranje"};
constexpr SV kRsStates[] = {
    "Belgrade",  "South Bačka", "North Bačka", "Srem",    "Mačva",   "Kolubara",  "Podunavlje",
    "Braničevo", "Šumadija",    "Pomoravlje",  "Bor",     "Zaječar", "Zlatibor",  "Moravica",
    "Raška",     "Rasina",      "Nišava",      "Toplica", "Pirot",   "Jablanica", "Pčinja"};

// ---------------------------------------------------------------------------------------- TR
constexpr SV kTrMale[] = {"Yusuf",  "Eymen", "Ömer",  "Mustafa", "Mehmet", "Ahmet",
                          "Emir",   "Burak", "Barış", "Çağlar",  "Oğuz",   "Kerem",
                          "Serkan", "Uğur",  "İlker", "Necati"};
constexpr SV kTrFemale[] = {"Zeynep", "Elif",   "Defne", "Asel",   "Azra", "Nehir",
                            "Ecrin",  "Meryem", "Şule",  "Gülşen", "Ayşe", "Özlem",
                            "Büşra",  "Çiğdem", "Sıla",  "Ömür"};
constexpr SV kTrLast[] = {"Yılmaz",   "Kaya",   "Demir", "Şahin",   "Çelik",  "Yıldız",
                          "Yıldırım", "Öztürk", "Aydın", "Özdemir", "Arslan", "Doğan",
                          "Kılıç",    "Aslan",  "Çetin", "Kara",    "Koç",    "Kulaksızoğlu"};
constexpr SV kTrStreets[] = {
    "Atatürk Cd",   "İstiklal Cd", "Cumhuriyet Cd", "Bağdat Cd",      "Fatih Sultan Mehmet Cd",
    "Necatibey Cd", "Şehitler Cd", "Kushimoto Sk",  "Anafartalar Cd", "Talak Göktepe Cd"};
constexpr SV kTrCities[] = {"İstanbul", "Ankara",     "İzmir",     "Bursa",     "Antalya",
                            "Konya",    "Adana",      "Şanlıurfa", "Gaziantep", "Kocaeli",
                            "Mersin",   "Diyarbakır", "Kayseri",   "Eskişehir", "Muğla"};
constexpr SV kTrStates[] = {"Adana",   "Ankara",        "Antalya",  "Aydın",     "Balıkesir",
                            "Bursa",   "Denizli",       "Erzurum",  "Gaziantep", "Hatay",
                            "Isparta", "Kahramanmaraş", "Kırşehir", "Kütahya",   "Manisa",
                            "Ordu",    "Sakarya",       "Samsun",   "Trabzon",   "Van"};

// ---------------------------------------------------------------------------------------- UA
// The API sends Ukrainian names in Latin transliteration.
constexpr SV kUaMale[] = {"Oleksandr", "Andriy", "Dmitro",     "Bogdan",  "Taras",  "Yaroslav",
                          "Mikola",    "Vasil",  "Ostap",      "Petro",   "Sergiy", "Yuriy",
                          "Volodimir", "Ivan",   "Svyatoslav", "Peresvit"};
constexpr SV kUaFemale[] = {"Olena",    "Oksana",  "Nataliya", "Iryna",  "Kateryna", "Yuliya",
                            "Svitlana", "Tetyana", "Larisa",   "Mariya", "Sofiya",   "Zoryana",
                            "Halyna",   "Daryna",  "Lesya",    "Bogdana"};
constexpr SV kUaLast[] = {"Shevchenko", "Bondarenko", "Kovalenko", "Tkachenko", "Kravchenko",
                          "Melnik",     "Boyko",      "Kovalchuk", "Oliynik",   "Lisenko",
                          "Savchenko",  "Rudenko",    "Moroz",     "Pavlenko",  "Marchenko",
                          "Levchenko",  "Petrenko",   "Grivko"};
constexpr SV kUaStreets[] = {"Khreshchatik",  "Shevchenka",        "Franka", "Lesi Ukrayinki",
                             "Sagaydachnogo", "Gagarina",          "Zelena", "Sadova",
                             "Naberezhna",    "Provulok Dezhnieva"};
constexpr SV kUaCities[] = {"Kiyiv",        "Kharkiv",    "Odesa",     "Dnipro",   "Lviv",
                            "Zaporizhzhya", "Kriviy Rig", "Mikolayiv", "Vinnicya", "Poltava",
                            "Chernigiv",    "Cherkasi",   "Zhitomir",  "Sumi",     "Rivne"};
constexpr SV kUaStates[] = {"Kiyivska",  "Kharkivska",   "Odeska",       "Dnipropetrovska",
                            "Lvivska",   "Zaporizka",    "Mikolayivska", "Vinnicka",
                            "Poltavska", "Chernigivska", "Cherkaska",    "Zhitomirska",
                            "Sumska",    "Rivnenska",    "Ternopilska",  "Volinska"};

// ---------------------------------------------------------------------------------------- US
constexpr SV kUsMale[] = {"James",   "John",    "Robert", "Michael", "William",     "David",
                          "Richard", "Joseph",  "Thomas", "Charles", "Christopher", "Daniel",
                          "Matthew", "Anthony", "Mark",   "Steven"};
constexpr SV kUsFemale[] = {"Mary",  "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara",
                            "Susan", "Jessica",  "Sarah",    "Karen", "Nancy",     "Lisa",
                            "Betty", "Margaret", "Sandra",   "Ashley"};
constexpr SV kUsLast[] = {"Smith",     "Johnson", "Williams", "Brown",     "Jones",
                          "Garcia",    "Miller",  "Davis",    "Rodriguez", "Martinez",
                          "Hernandez", "Lopez",   "Wilson",   "Anderson",  "Thomas",
                          "Taylor",    "Moore",   "Jackson",  "Martin",    "Lee"};
constexpr SV kUsStreets[] = {"Main St",  "Oak St",   "Pine St",        "Maple Ave",
                             "Cedar St", "Elm St",   "Washington Ave", "Lake St",
                             "Hill St",  "Park Ave", "Sunset Blvd",    "Thornridge Cir"};
constexpr SV kUsCities[] = {"New York",     "Los Angeles",  "Chicago",   "Houston", "Phoenix",
                            "Philadelphia", "San Antonio",  "San Diego", "Dallas",  "San Jose",
                            "Austin",       "Jacksonville", "Columbus",  "Denver",  "Seattle"};
constexpr SV kUsStates[] = {"Alabama",    "Alaska",   "Arizona",    "California", "Colorado",
                            "Florida",    "Georgia",  "Illinois",   "Michigan",   "Nevada",
                            "New Mexico", "New York", "Ohio",       "Oregon",     "Pennsylvania",
                            "Texas",      "Virginia", "Washington", "Wisconsin"};

// In kNationalities order.
constexpr NatData kNats[] = {
    {.code = "AU",
     .country = "Australia",
     .male_first = kAuMale,
     .female_first = kAuFemale,
     .last = kAuLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kAuStreets,
     .cities = kAuCities,
     .states = kAuStates,
     .postcode = {PostcodeKind::kNumber, 200, 9999},
     .phone = {{"0#-####-####"}},
     .cell = {{"04##-###-###"}},
     .id_name = "TFN",
     .id_value = kNineDigits},
    {.code = "BR",
     .country = "Brazil",
     .male_first = kBrMale,
     .female_first = kBrFemale,
     .last = kBrLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kBrStreets,
     .cities = kBrCities,
     .states = kBrStates,
     .postcode = kFiveDigits,
     .phone = {{"(##) ####-####"}},
     .cell = {{"(##) ####-####"}},
     .id_name = "CPF",
     .id_value = {{"###.###.###-##"}}},
    {.code = "CA",
     .country = "Canada",
     .male_first = kCaMale,
     .female_first = kCaFemale,
     .last = kCaLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kCaStreets,
     .cities = kCaCities,
     .states = kCaStates,
     .postcode = {PostcodeKind::kString, 0, 0, {{"L#L #L#"}}},
     .phone = {{"L## L##-####"}},
     .cell = {{"L## L##-####"}},
     .id_name = "SIN",
     .id_value = kNineDigits},
    {.code = "CH",
     .country = "Switzerland",
     .male_first = kChMale,
     .female_first = kChFemale,
     .last = kChLast,
     .male_titles = kFrenchMale,
     .female_titles = kFrenchFemale,
     .streets = kChStreets,
     .cities = kChCities,
     .states = kChStates,
     .postcode = {PostcodeKind::kNumber, 1000, 9999},
     .phone = {{"07# ### ## ##"}},
     .cell = {{"07# ### ## ##"}},
     .id_name = "AVS",
     .id_value = {{"756.####.####.##"}}},
    {.code = "DE",
     .country = "Germany",
     .male_first = kDeMale,
     .female_first = kDeFemale,
     .last = kDeLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kDeStreets,
     .cities = kDeCities,
     .states = kDeStates,
     .postcode = kFiveDigits,
     .phone = {{"0###-#######"}},
     .cell = {{"017#-#######"}},
     .id_name = "SVNR",
     .id_value = {{"## @ ^ ###"}}},
    {.code = "DK",
     .country = "Denmark",
     .male_first = kDkMale,
     .female_first = kDkFemale,
     .last = kDkLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kDkStreets,
     .cities = kDkCities,
     .states = kDkStates,
     .postcode = kFiveDigits,  // Five digits although Danish postcodes have four: the API's.
     .phone = kEightDigits,
     .cell = kEightDigits,
     .id_name = "CPR",
     .id_value = {{"@-####"}}},
    {.code = "ES",
     .country = "Spain",
     .male_first = kEsMale,
     .female_first = kEsFemale,
     .last = kEsLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kEsStreets,
     .cities = kEsCities,
     .states = kEsStates,
     .postcode = kFiveDigits,
     .phone = {{"9##-###-###"}},
     .cell = {{"6##-###-###"}},
     .id_name = "DNI",
     .id_value = {{"########-L"}}},
    {.code = "FI",
     .country = "Finland",
     .male_first = kFiMale,
     .female_first = kFiFemale,
     .last = kFiLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kFiStreets,
     .cities = kFiCities,
     .states = kFiStates,
     .postcode = kFiveDigits,
     .phone = {{"0#-###-###"}},
     .cell = {{"04#-###-##-##"}},
     // The API's HETU generator is broken and really sends this.
     .id_name = "HETU",
     .id_value = {{"NaNNA###undefined"}}},
    {.code = "FR",
     .country = "France",
     .male_first = kFrMale,
     .female_first = kFrFemale,
     .last = kFrLast,
     .male_titles = kFranceMale,
     .female_titles = kFranceFemale,
     .streets = kFrStreets,
     .cities = kFrCities,
     .states = kFrStates,
     .postcode = kFiveDigits,
     .phone = {{"0#-##-##-##-##"}},
     .cell = {{"06-##-##-##-##"}},
     .id_name = "INSEE",
     .id_value = {{"%$######## ##"}}},
    {.code = "GB",
     .country = "United Kingdom",
     .male_first = kGbMale,
     .female_first = kGbFemale,
     .last = kGbLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kGbStreets,
     .cities = kGbCities,
     .states = kGbStates,
     .postcode = {PostcodeKind::kString, 0, 0, {{"LL#L #LL", "L# #LL", "LL# #LL", "LL## #LL"}, 4}},
     .phone = {{"01### #####", "01#### #####", "02# #### ####"}, 3},
     .cell = {{"07### ######"}},
     .id_name = "NINO",
     .id_value = {{"LL ## ## ## L"}}},
    {.code = "IE",
     .country = "Ireland",
     .male_first = kIeMale,
     .female_first = kIeFemale,
     .last = kIeLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kIeStreets,
     .cities = kIeCities,
     .states = kIeStates,
     .postcode = kFiveDigits,
     .phone = {{"0#1-###-####"}},
     .cell = {{"081-###-####"}},
     .id_name = "PPS",
     .id_value = {{"#######T"}}},
    {.code = "IN",
     .country = "India",
     .male_first = kInMale,
     .female_first = kInFemale,
     .last = kInLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kInStreets,
     .cities = kInCities,
     .states = kInStates,
     .postcode = kFiveDigits,
     .phone = {{"9#########", "8#########", "7#########"}, 3},
     .cell = {{"9#########", "8#########", "7#########"}, 3},
     .id_name = "UIDAI",
     .id_value = {{"############"}}},
    {.code = "IR",
     .country = "Iran",
     .male_first = kIrMale,
     .female_first = kIrFemale,
     .last = kIrLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kIrStreets,
     .cities = kIrCities,
     .states = kIrStates,
     .postcode = kFiveDigits,
     .phone = {{"0##-########"}},
     .cell = {{"09##-###-####"}},
     .id_name = "",
     .id_value = {}},
    {.code = "MX",
     .country = "Mexico",
     .male_first = kMxMale,
     .female_first = kMxFemale,
     .last = kMxLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kMxStreets,
     .cities = kMxCities,
     .states = kMxStates,
     .postcode = kFiveDigits,
     .phone = {{"(6##) ### ####"}},
     .cell = {{"(6##) ### ####"}},
     .id_name = "NSS",
     .id_value = {{"## ## ## #### #"}}},
    {.code = "NL",
     .country = "Netherlands",
     .male_first = kNlMale,
     .female_first = kNlFemale,
     .last = kNlLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kNlStreets,
     .cities = kNlCities,
     .states = kNlStates,
     .postcode = {PostcodeKind::kString, 0, 0, {{"#### LL"}}},
     .phone = {{"(0###) ######", "(0##) #######"}, 2},
     .cell = {{"(06) ########"}},
     .id_name = "BSN",
     .id_value = kEightDigits},
    {.code = "NO",
     .country = "Norway",
     .male_first = kNoMale,
     .female_first = kNoFemale,
     .last = kNoLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kNoStreets,
     .cities = kNoCities,
     .states = kNoStates,
     .postcode = {PostcodeKind::kString, 0, 0, {{"####"}}},
     .phone = kEightDigits,
     .cell = {{"4#######", "9#######"}, 2},
     .id_name = "FN",
     .id_value = {{"@#####"}}},
    {.code = "NZ",
     .country = "New Zealand",
     .male_first = kNzMale,
     .female_first = kNzFemale,
     .last = kNzLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kNzStreets,
     .cities = kNzCities,
     .states = kNzStates,
     .postcode = kFiveDigits,
     .phone = kDashedPhone,
     .cell = kDashedPhone,
     .id_name = "",
     .id_value = {}},
    {.code = "RS",
     .country = "Serbia",
     .male_first = kRsMale,
     .female_first = kRsFemale,
     .last = kRsLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kRsStreets,
     .cities = kRsCities,
     .states = kRsStates,
     .postcode = kFiveDigits,
     .phone = {{"0##-####-###"}},
     .cell = {{"06#-####-###"}},
     .id_name = "SID",
     .id_value = kNineDigits},
    {.code = "TR",
     .country = "Turkey",
     .male_first = kTrMale,
     .female_first = kTrFemale,
     .last = kTrLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kTrStreets,
     .cities = kTrCities,
     .states = kTrStates,
     .postcode = kFiveDigits,
     .phone = kDashedPhone,
     .cell = kDashedPhone,
     .id_name = "",
     .id_value = {}},
    {.code = "UA",
     .country = "Ukraine",
     .male_first = kUaMale,
     .female_first = kUaFemale,
     .last = kUaLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kUaStreets,
     .cities = kUaCities,
     .states = kUaStates,
     .postcode = kFiveDigits,
     .phone = {{"(09#) L##-####"}},
     .cell = {{"(09#) L##-####"}},
     .id_name = "",
     .id_value = {}},
    {.code = "US",
     .country = "United States",
     .male_first = kUsMale,
     .female_first = kUsFemale,
     .last = kUsLast,
     .male_titles = kMr,
     .female_titles = kEnglishFemale,
     .streets = kUsStreets,
     .cities = kUsCities,
     .states = kUsStates,
     .postcode = kFiveDigits,
     .phone = kUsPhone,
     .cell = kUsPhone,
     .id_name = "SSN",
     .id_value = {{"###-##-####"}}},
};

static_assert(std::size(kNats) == kNationalities.size());

constexpr bool NatsInApiOrder() {
  for (size_t i = 0; i < kNationalities.size(); ++i) {
    if (kNats[i].code != kNationalities[i]) return false;
  }
  return true;
}
static_assert(NatsInApiOrder(), "kNats must follow kNationalities");

constexpr bool WordOk(SV word) {
  if (word.size() > kMaxWordBytes) return false;
  for (const char c : word) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

constexpr bool WordsOk(Words words) {
  for (const SV word : words) {
    if (!WordOk(word)) return false;
  }
  return !words.empty();
}

constexpr bool PatternOk(const Pattern& pattern) {
  if (pattern.count < 1 || pattern.count > pattern.alternatives.size()) return false;
  for (size_t i = 0; i < pattern.count; ++i) {
    size_t expanded = 0;
    for (const char c : pattern.alternatives[i]) {
      expanded += c == '@' ? 6 : c == '$' ? 4 : 1;
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
    }
    if (expanded > kMaxPatternBytes) return false;
  }
  return true;
}

constexpr bool NatsOk() {
  for (const NatData& nat : kNats) {
    if (!WordOk(nat.code) || !WordOk(nat.country) || !WordOk(nat.id_name)) return false;
    for (const Words words : {nat.male_first, nat.female_first, nat.last, nat.male_titles,
                              nat.female_titles, nat.streets, nat.cities, nat.states}) {
      if (!WordsOk(words)) return false;
    }
    if (!PatternOk(nat.phone) || !PatternOk(nat.cell)) return false;
    if (!nat.id_name.empty() && !PatternOk(nat.id_value)) return false;
    if (nat.postcode.kind == PostcodeKind::kString && !PatternOk(nat.postcode.pattern)) {
      return false;
    }
    if (nat.postcode.kind == PostcodeKind::kNumber &&
        nat.postcode.number_min > nat.postcode.number_max) {
      return false;
    }
  }
  return true;
}
static_assert(NatsOk(), "a word list or pattern breaks a promise in generator_data.h");

constexpr Timezone kTimezones[] = {
    {"-12:00", "Eniwetok, Kwajalein"},
    {"-11:00", "Midway Island, Samoa"},
    {"-10:00", "Hawaii"},
    {"-9:00", "Alaska"},
    {"-8:00", "Pacific Time (US & Canada)"},
    {"-7:00", "Mountain Time (US & Canada)"},
    {"-6:00", "Central Time (US & Canada), Mexico City"},
    {"-5:00", "Eastern Time (US & Canada), Bogota, Lima"},
    {"-4:00", "Atlantic Time (Canada), Caracas, La Paz"},
    {"-3:30", "Newfoundland"},
    {"-3:00", "Brazil, Buenos Aires, Georgetown"},
    {"-2:00", "Mid-Atlantic"},
    {"-1:00", "Azores, Cape Verde Islands"},
    {"0:00", "Western Europe Time, London, Lisbon, Casablanca"},
    {"+1:00", "Brussels, Copenhagen, Madrid, Paris"},
    {"+2:00", "Kaliningrad, South Africa"},
    {"+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"},
    {"+3:30", "Tehran"},
    {"+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"},
    {"+4:30", "Kabul"},
    {"+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"},
    {"+5:30", "Bombay, Calcutta, Madras, New Delhi"},
    {"+5:45", "Kathmandu"},
    {"+6:00", "Almaty, Dhaka, Colombo"},
    {"+7:00", "Bangkok, Hanoi, Jakarta"},
    {"+8:00", "Beijing, Perth, Singapore, Hong Kong"},
    {"+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"},
    {"+9:30", "Adelaide, Darwin"},
    {"+10:00", "Eastern Australia, Guam, Vladivostok"},
    {"+11:00", "Magadan, Solomon Islands, New Caledonia"},
    {"+12:00", "Auckland, Wellington, Fiji, Kamchatka"},
};

constexpr SV kAdjectives[] = {"golden", "tiny",     "silver", "beautiful", "brown",  "lazy",
                              "angry",  "yellow",   "red",    "happy",     "big",    "organic",
                              "green",  "ticklish", "white",  "sad",       "heavy",  "purple",
                              "black",  "orange",   "blue",   "crazy",     "fierce", "smart"};
constexpr SV kAnimals[] = {"peacock", "fish",    "butterfly", "wolf",    "snake",    "frog",
                           "mouse",   "dog",     "leopard",   "goose",   "gorilla",  "bear",
                           "lion",    "tiger",   "panda",     "meercat", "elephant", "rabbit",
                           "ladybug", "koala",   "swan",      "cat",     "bird",     "duck",
                           "zebra",   "ostrich", "kangaroo",  "owl"};
constexpr SV kPasswords[] = {"sunshine",  "dragon",   "monkey",   "football", "letmein", "shadow",
                             "master",    "baseball", "princess", "qwerty",   "welcome", "trustno1",
                             "hunter",    "ranger",   "buster",   "soccer",   "harley",  "tigger",
                             "pepper",    "cookie",   "matrix",   "summer",   "winter",  "falcon",
                             "maverick",  "phoenix",  "banana",   "chelsea",  "thunder", "123456",
                             "password1", "iloveyou", "coffee",   "bulldog",  "truck",   "kitty1"};

constexpr bool TimezonesOk() {
  for (const Timezone& tz : kTimezones) {
    if (!WordOk(tz.offset) || !WordOk(tz.description)) return false;
  }
  return true;
}
static_assert(TimezonesOk());
static_assert(WordsOk(kAdjectives) && WordsOk(kAnimals) && WordsOk(kPasswords));

}  // namespace

const NatData& Nat(size_t index) { return kNats[index]; }
std::span<const Timezone> Timezones() { return kTimezones; }
Words UsernameAdjectives() { return kAdjectives; }
Words UsernameAnimals() { return kAnimals; }
Words Passwords() { return kPasswords; }

}  // namespace spate::generator_data
