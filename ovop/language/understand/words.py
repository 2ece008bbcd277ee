"""Words as data: every list the reader compares against, written as people type them.

Glossary fixes (see shared/data/glossary.md; many Wolof words are still marked *check*) are one-line
changes here. Product words are not here: they come from the catalogue. The lists are folded with
`normalise` once, at import (the `_UPPER` names at the bottom).
"""
from __future__ import annotations

from typing import Iterable, Mapping

from .text import _words, normalise


HELP_WORDS = ("aide", "help", "ndimbal", "aidez moi", "aide moi", "help me")
MENU_WORDS = ("menu", "accueil")
GREETINGS = (
    "bonjour", "bonsoir", "salut", "salam", "salam aleykoum", "salam alaykoum", "salam aleikoum", "salam aleykum",
    "salam alaykum", "salam aleikum", "salam alekum", "salaam alaykum",
    "salaam aleekum", "salamalekum", "salamalekoum", "salamaleykoum", "assalamou alaykoum",
    "assalamu alaikum", "as salam aleykoum", "na nga def", "nanga def", "nangadef", "hello", "hi", "hey",
    "coucou", "bjr", "slt", "good morning", "good afternoon", "good evening", "cv", "ca va", "sava", "sa va",
    "nakamu", "naka nga def", "nangeen def", "na ngeen def", "nanguen def", "nangen def", "salamalekum", "asalaa maalekum", "asalamalekum",
)
OPTOUT_WORDS = ("stop", "arret", "arrêt", "unsubscribe", "stopall", "stop all", "desabonner", "se desabonner")
OPTIN_WORDS = ("start", "demarrer", "démarrer", "unstop")
LANGUAGE_WORDS = ("langue", "language", "lang", "làkk", "lakk")
LANGUAGE_VALUES = {
    "fr": ("français", "francais", "french", "fr", "farañse", "faranse"),
    "wo": ("wolof", "wo", "olof"),
    "en": ("english", "anglais", "en", "angale", "angalé"),
}
CANCEL_WORDS = ("annuler", "annule", "annulé", "cancel", "undo")
# Politeness around a keyword ("STOP svp", "aide merci") does not change it.
POLITE_WORDS = ("svp", "stp", "s'il vous plaît", "s'il te plaît", "merci", "beaucoup", "please", "pls", "plz",
                "thanks", "thank you", "jërëjëf", "jerejef", "dieuredieuf", "mci", "bcp", "thx", "tnx", "bien",
                "so much", "waay", "pour l'info", "pour tout", "very much", "a lot", "infiniment", "madame", "monsieur")
# Blessings around a thank-you ("mci bcp que Dieu vous bénisse", "jërëjëf, Yalla na leen Yalla fay"): a message of
# thanks, politeness and these words alone needs no answer.
BLESSING_WORDS = ("que dieu vous benisse", "dieu vous benisse", "yalla na leen yalla fay", "yalla fay", "bu baax",
                  "nu ngi jem", "nou ngi dieum", "god bless", "god bless you", "amine", "amen", "inchallah")
THANKS_WORDS = ("merci", "thanks", "thank", "jërëjëf", "jerejef", "dieuredieuf", "mci", "thx", "tnx")

YES_WORDS = ("oui", "ouais", "waaw", "wao", "waw", "yes", "yep", "ok", "okay", "oké", "d'accord", "daccord",
             "dac", "dacc")
NO_WORDS = ("non", "nan", "déedéet", "deedeet", "dedet", "dédét", "no", "nope")
# "je peux 20", "20 seulement", "ñaar fukk rekk": a smaller quantity offered for an order.
CAN_PHRASES = ("je peux", "je peut", "on peut", "nous pouvons", "je pourrai", "i can", "we can", "mën naa",
               "mën nanu", "je prends", "je prend", "on prend", "nous prenons", "i take", "we take")
ONLY_WORDS = ("seulement", "only", "rekk", "juste")
# Words before a yes/no that do not change it ("ben oui", "bon ok").
DISCOURSE_WORDS = ("ben", "bon", "alors", "euh", "eh", "ah", "bah", "hmm", "well")

WORKSHOP_WORDS = ("atelier", "workshop", "njàng", "njang", "formation", "training")
PRICE_WORDS = ("prix", "price", "njëg", "tarif", "coût", "cout", "coute")

# Words that say "this is a stock report" when no product is named ("stock 40", "am na 40", "I have 40").
STOCK_WORDS = ("stock", "stok", "reste", "restant", "restent", "left", "dispo", "disponible", "am", "have",
               "got", "ai", "avons", "remaining", "remain", "desna", "ya", "yena", "tey", "tay", "today", "maintenant",
               "nagnou", "nagnu", "nanou")
# Next to a product they mean 0 ("yaourt fini", "rupture savon").
ZERO_WORDS = ("rupture", "fini", "finie", "épuisé", "épuisée", "zéro", "tus", "dara", "rien", "none",
              "nothing", "out", "jeex")
# Words ignored inside a stock report (they separate products but never name one).
FILLER_WORDS = (
    # French
    "je", "j'ai", "jai", "g", "nous", "on", "il", "y", "a", "en", "est", "c'est", "ça", "ca", "voici", "voila", "pour",
    "mon", "ma", "mes", "notre", "nos", "et", "ou", "aujourd'hui", "maintenant", "encore", "total",
    "quantité", "qte", "qté", "qty", "nb", "nombre", "environ", "exactement", "plus", "il y a", "me", "moi",
    "frais", "bien", "ici", "reçu",
    "for", "when", "call", "with", "until", "then", "lay", "lanuy", "lagnouy", "dans", "ds", "au", "suis", "having", "marche", "marché", "market", "dey", "du", "bi", "yi", "women", "group",
    "groupe", "gie", "tuuti", "bundle", "bundles", "after", "before", "avant", "apres", "ici", "here", "frigo", "magasin",
    "boutique", "maison", "home", "shop", "matin", "soir", "morning", "bio",
    "thies", "kaolack", "dakar", "ziguinchor", "louga", "fatick", "kolda", "kaffrine", "kedougou", "diourbel",
    "saint", "louis", "touba", "mbour", "tambacounda", "matam", "sedhiou", "rufisque",
    # Wolof
    "na", "nanu", "naa", "ngi", "mu", "dama", "dañu", "ci", "bi", "yi", "gi", "li", "ak", "te", "la", "nga",
    "sama", "suma", "sunu", "lii", "yii", "nii",
    # English
    "i", "we", "has", "there", "is", "are", "an", "and", "in", "my", "our", "today", "now", "the", "some",
)
# Little words inside product names: dropped on both sides so "huile de palme" = "huile palme".
LINK_WORDS = ("de", "d", "du", "des", "l", "la", "le", "les", "of")

# Units a quantity may carry ("25 pots", "10L"). Keys are canonical; a product's unit is compared canonically.
UNITS = {
    "pot": ("pot", "jar", "bocal", "bocaux", "pots"),
    "kg": ("kg", "kilo", "kilogramme"),
    "g": ("g", "gr", "gramme"),
    "litre": ("litre", "liter", "l", "lt", "ltr"),
    "sachet": ("sachet",),
    "bouteille": ("bouteille", "btl"),
    "carton": ("carton",),
    "piece": ("pièce", "piece", "pc", "pcs", "pce", "unité", "unit"),
    "bidon": ("bidon",),
    "paquet": ("paquet",),
    "sac": ("sac", "bag"),
}

# French number words. "un", "une" and "neuf" (also "new") are weak: see WEAK_NUMBER_WORDS.
FRENCH_SMALL = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
                "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15,
                "seize": 16}
FRENCH_TENS = {"vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60}
FRENCH_HUNDRED = ("cent",)
FRENCH_THOUSAND = ("mille", "mil")
HALF_WORDS = ("demi", "demie")

# Wolof numbers with the spellings of the glossary. ñ folds to n, so "ñaar" is "naar" (then "nar").
WOLOF_SMALL = {
    1: ("benn",),
    2: ("ñaar", "niaar", "niar", "nyaar", "gnaar", "naar"),
    3: ("ñett", "niett", "nyett", "gnett", "nett"),
    4: ("ñeent", "nient", "nyeent", "gneent", "neent"),
    5: ("juróom", "juroom", "jurom", "djouroum", "diouroum"),
}
WOLOF_MULTIPLIERS = {10: ("fukk", "fuk", "fouk"), 100: ("téeméer", "teemeer", "temeer"), 1000: ("junni",)}
WOLOF_FIXED = {30: ("fanweer",)}  # glossary: likely
WOLOF_AND = ("ak",)  # "fukk ak ñaar" = 10 + 2
# Read as a number only next to a product or a unit ("benn" is also French "ben"; "neuf" is also "new"; "is there
# one?" asks, it does not count).
WEAK_NUMBER_WORDS = ("benn", "un", "une", "neuf", "one")

# --- words that change what a count is (spans._markers) ---------------------------------------------------
SALE_WORDS = ("selling", "diaye", "diay", "jaaye", "vendu", "vendus", "vendue", "vendues", "vend", "vendre", "vendais", "vente", "ventes", "sold", "sell",
              "sale", "sales", "jaay", "jaaynanu", "jaaynaa", "jaaye", "jeend")
FUTURE_WORDS = ("aura", "aurai", "aurons", "auront", "aurez", "auras", "vais", "allons", "va", "prochain",
                "prochaine", "will", "going", "gonna", "dinanu", "dina", "dinaa", "dinan", "dinañu", "dinagn",
                "produire", "preparer", "fabriquer")
FUTURE_AFTER = ("demain", "tomorrow", "ellëg", "elleg", "ellek", "ellag", "prochain", "prochaine", "next",
                "bientot", "soon", "ci kanam", "lanuy", "dinanuy", "ayubes")
# The word right before a count ("environ 40", "à peu près 40", "plus ou moins 40", "lu tollu 40").
APPROX_WORDS = ("environ", "env", "approx", "approximativement", "about", "around", "roughly", "presque",
                "almost", "nearly", "pres", "moins", "quelque", "quelques", "tollu", "tollou", "tolou", "tolu", "jege",
                "diege", "genre", "autour",
                "circa", "approximately", "~", "plus", "more", "over", "dessus")  # "plus de 50": at least, not 50
CONTAINER_LINKS = ("de", "d", "of", "a", "x", "yu", "bu", "ci", "with", "avec")
APPROX_AFTER = ("environ", "ish", "approx", "approximativement", "a peu pres", "plus ou moins", "or so", "more or less")
RANGE_JOIN = ("ou", "or", "walla", "wala", "wal", "ou bien", "voire", "a", "to", "jusqu'a", "jusqua")
RANGE_START = ("entre", "between", "de", "from", "diggante")
CORRECT_KEEP_FIRST = ("pas", "not", "et non", "and not", "non pas", "pas de")
CORRECT_KEEP_LAST = ("non", "no", "pardon", "sorry", "euh", "plutot", "deedeet", "dedet", "correction", "corrige",
                     "je veux dire", "i mean", "oups", "oops", "erreur", "non pardon", "en fait", "sori", "baal",
                     "trompe", "trompee", "corrige", "meant", "mistake", "actually", "plutot")
# Days: "past" and "future" put a count in doubt (is it today's stock?).
DAY_WORDS = {
    "past": ("hier", "yesterday", "démb", "demb", "dem"),
    "future": ("demain", "tomorrow", "ellëg", "elleg", "ellek", "ellag", "apres-demain"),
    "today": ("aujourd'hui", "aujourdhui", "auj", "today", "tey", "tay", "maintenant", "now", "leegi", "legi"),
    "weekday": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "monday", "tuesday",
                "wednesday", "thursday", "friday", "saturday", "sunday", "altine", "talaata", "allarba",
                "alxames", "ajjuma", "gaawu", "dibeer", "semaine", "week"),
}

# English number words.
ENGLISH_SMALL = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
                 "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
ENGLISH_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
                "eighty": 80, "ninety": 90}
# A price word right after a count makes it a price: "500 lay jar", "500 lay diar".
PRICE_AFTER = ("jar", "diar", "djar", "lay jar", "lay diar", "prix", "price", "chacun", "each", "njeg", "franc", "francs",
               "fcfa", "cfa", "derem", "dereum")
FRENCH_EXTRA_TENS = {"septante": 70, "huitante": 80, "nonante": 90}

# --- sentences (intents.py): words that combine, as producers write them -----------------------------------
# A stop verb anywhere in a short message is an opt-out ("arrêtez svp", "bayil ma", "please stop texting").
STOP_VERBS = ("stop", "stoppe", "stopper", "stoppez", "stopez", "arret", "arrete", "arreter", "arretez", "arretes",
              "areter", "aretez", "cesser", "cessez", "desabonner", "desabonnez", "desabonne", "desinscrire",
              "desinscrivez", "desinscris", "unsubscribe", "unsuscribe", "optout", "bayil", "bayyi", "bayyil",
              "bayileen", "bayyileen", "baayil", "bayi", "noppi", "noppil", "noppileen", "nopi", "nopil",
              "desabonnement", "desabonement", "desabonnment", "desinscription", "desincription", "desinscrit")
STOP_PHRASES = ("opt out", "bul ma bindati", "buleen ma bindati", "bu ma bindati", "bul ma yonneeti",
                "buleen ma yonneeti", "bul ma yonnee", "buleen ma yonnee", "bul ma yone", "dootuma begg", "bul ma sms",
                "leave me off", "take me off", "boul ma bindati", "boul ma bind", "boul ma yonne", "boul ma yonneeti",
                "bouleen ma bindati", "bul ma bind", "bu ma bind", "bayi ma", "bayil ma", "bayyil ma", "remove me", "retirez moi", "enlevez moi", "supprimez moi",
                "supprimer mon numero", "effacez moi", "plus jamais", "no more messages", "do not text",
                "dont text", "don't text", "dont message", "don't message", "do not message", "no more sms",
                "plus de sms", "plus de message", "pas de message", "pas de sms", "laissez moi tranquille",
                "laisse moi tranquille", "laissez nous tranquille", "leave me alone", "retirez mon numero",
                "retirer mon numero", "enlevez mon numero", "enlever mon numero", "effacez mon numero",
                "supprimez mon numero", "remove my number", "delete my number")
# Words for the boutique's orders: "bayil commande bi" (drop the order) stops an order, maybe not our messages.
ORDER_WORDS = ("commande", "commandes", "cmd", "order", "orders", "ordre", "komand", "kómand")
# "I don't want" + a word for your messages: an opt-out.
NO_MORE_PHRASES = ("veux plus", "veut plus", "veux pas", "voulons plus", "voulons pas", "ne veux", "n veux",
                   "plus besoin", "pas besoin", "dont want", "don't want", "do not want", "no longer", "not interested",
                   "pas interesse", "pas interessee", "begguma", "beguma", "begg uma", "soxla wuma", "soxlawuma",
                   "dootuma", "dootuma begg", "bëgguma", "interesse plus")
MESSAGE_WORDS = ("message", "messages", "msg", "sms", "texto", "textos", "texte", "text", "texts", "texting",
                 "ecrire", "ecrivez", "envoyer", "envoyez", "envoi", "recevoir", "notification", "notifications",
                 "alerte", "alertes", "info", "infos", "messages", "bind", "bindal", "bindati", "yonnee", "yonne",
                 "yonni", "service", "abonnement", "whatsapp", "contact", "contacter", "appeler")
# Complaints that may mean "stop": asked, never ignored.
STOP_DOUBTS = ("trop de message", "trop de messages", "trop de sms", "too many", "pourquoi vous m ecrivez",
               "pourquoi vous m envoyez", "pourquoi tu m ecris", "why are you texting", "why do you text",
               "ca suffit", "c est trop", "cest trop", "enough", "laissez moi", "laisse moi", "leave me alone",
               "derange", "derangez", "deranger", "harcel", "spam", "arnaque", "fatigue", "saturer", "sature",
               "lambi", "sonal", "sonnal", "sonnaloo", "dafa bari", "bari na", "bari lool")
# "Who is this?": a doubt about who writes only when short or about the messages ("kan mooy bind ma"); "kan mooy
# indi oto bi" (who brings the car) and "qui est ce qui vient" ask something else.
WHO_ASKS = ("kan mooy", "kan nga", "who is this", "qui est ce", "qui etes vous", "ki ngeen")
# Stems of a complaint about our messages ("ces messages me dérangent", "lu tax ngay bind ma"): asked about when
# the message also speaks of messages or writing, and some stand alone ("je n'ai pas demandé ça").
DOUBT_STEMS = ("derang", "bother", "annoy", "sonn", "lu tax", "loutakh", "lutax", "lou tax", "lu tah", "pourquoi", "why", "too much", "trop", "keep texting",
               "tout le temps", "saa su nekk", "sa sou nek", "saa sou nekk", "bes bu nekk", "bess bou nek", "every day", "chaque jour", "tous les jours", "fatig", "marre",
               "en ai assez", "arnaq", "spam")
DOUBT_ALONE = ("didn t sign up", "didnt sign up", "did not sign up", "never signed up", "not signed up", "pas demande", "jamais demande", "never asked", "didn t ask", "didnt ask",
               "pas inscrit", "not subscribed", "qui vous a donne mon numero", "who gave you my number")
NEGATION_WORDS = ("pas", "ne", "n", "not", "dont", "don't", "never", "jamais", "bul", "du", "no")
OPTIN_PHRASES = ("recevoir a nouveau", "recevoir de nouveau", "recevoir encore", "recommencer", "reprendre",
                 "remettez moi", "remets moi", "reabonner", "reabonnez", "reactiver", "reactivez", "re abonner",
                 "start again", "subscribe", "resubscribe", "send me again", "resume", "begg dellu", "bëgg dellu",
                 "dama begg dellu", "dama beug dellou", "beug dellou", "dellou si", "delloussi", "dellusi", "dellu si message",
                 "dellu jot", "dellu jeli", "yonneel ma", "yonnee leen ma", "yonneleen ma",
                 "yonnel ma", "je veux recevoir", "veux recevoir vos", "want to receive", "want messages again",
                 "dellu ma", "nangu naa", "demarrer", "unstop", "restart", "start", "renvoyez moi", "je reviens",
                 "put me back", "add me back", "par erreur", "by mistake", "bindaat ma", "nga bindaat",
                 "yonneewaat", "yonnewaat", "bindaat")
HELP_PHRASES = ("comment faire", "comment ca marche", "comment ca fonctionne", "comment marche", "comment on fait",
                "comment utiliser", "c quoi", "c est quoi", "cest quoi", "quoi ce service", "je comprend pas",
                "comprend pas", "comprends pas", "sais pas", "ne sais", "ne comprend", "aidez", "aide moi",
                "help me", "how does", "how do", "how to", "what is this", "what s this", "whats this",
                "don t understand", "dont understand", "do not understand", "not understand", "naka lan", "naka la",
                "naka la", "naka laa", "naka ngay", "naka lay", "naka nu", "naka lagnouy", "naka lanuy", "naka lagnou",
                "nan lagnouy", "nan la", "xamuma", "xamu ma", "xamouma",
                "degguma", "deguma", "dégguma", "ndimbal", "dimbali", "dimbalil", "dimbaliil", "explique",
                "expliquer", "expliquez", "lan la", "lan mooy", "lan moy", "lan lay", "explain", "mode d emploi",
                "que faire", "quoi faire", "kan ngeen", "lan ngeen", "c koi", "c est koi", "koi", "jcomprend",
                "j comprend", "comprend rien", "understand nothing", "how it works")
# Asking for a person (the staff inbox): phrases anywhere in a message. "woo ma" / "woolu ma" (call me) only open
# the message: "Moussa dafa woo ma demb" tells what happened. STOP is read first: a stop with "call me" stops.
PERSON_PHRASES = ("parler a quelqu un", "parler a quelqun", "parler avec quelqu un", "parler a une personne",
                  "parler a un humain", "parler a un agent", "parler au responsable", "parler a la responsable",
                  "parler au gerant", "parler a la gerante", "parler a un conseiller", "parler a une personne",
                  "quelqu un de vivant", "pas a une machine", "pas a un robot", "un humain", "un agent svp",
                  "un agent stp", "un agent s il vous plait", "m appeler", "m apeler", "me rappeler", "appelez moi",
                  "appelle moi", "apel moi", "appel moi", "apelle moi", "rappelez moi", "rappelle moi", "rapel moi",
                  "appelez nous", "rappelez nous", "passez moi", "en contact avec", "le numero de la responsable",
                  "le numero du responsable", "numero du gerant", "appel vocal", "se parle au tel",
                  "se parle au telephone", "parler au telephone", "parler au tel", "call me", "speak to a",
                  "speak with a", "talk to a", "talk to someone", "real person", "a human", "someone to call",
                  "wax ak nit", "begg wax ak", "bgg wax ak", "waxal ak man", "jokkool ak man", "jokkoo ak man",
                  "ku ma woo", "ku ma wo", "dama koy woo", "kan laa men a woo", "kan laa mena woo",
                  "kan laa wara woo", "nit ku dee", "nit ku deug", "woolu nu", "woolu ma",
                  # from a review of the inbox by a producer's eyes
                  "parler a kelkun", "parle a kelkun", "parle a quelqu un", "parler a la boutique",
                  "parle a la boutique", "men nga ma woo", "woolal ma", "wakh ak nit", "wakh ak boutique",
                  "wax ak boutique", "beugue wakh ak", "phone me", "talk to staff", "speak to staff",
                  "speak with staff", "speak with the boutique", "speak to the boutique", "talk to the boutique",
                  "speek to", "talk to somebody", "speak to somebody", "speak to sombody", "talk to sombody")
PERSON_OPENERS = ("woolu ma", "woo ma", "wool ma", "call me", "appelez moi", "apelez moi")
MENU_PHRASES = ("retour", "revenir", "dellou", "dellou si menu", "menu principal", "main menu", "go back", "back", "debut", "recommencer menu",
                "page d accueil", "dellu", "delloo", "choix")
PRICE_PHRASES = ("combien", "how much", "how much is", "niata", "naata", "nyaata", "nata", "ñaata", "jar", "diar",
                 "djar",
                 "njeg", "njeug", "ndieg", "ndieug", "tarif", "what price", "quel prix", "cout", "coute", "coutent",
                 "cost", "costs", "vendez", "achetez", "ci la jar", "prix")
ACCEPT_PHRASES = ("on peut", "je peux", "c est possible", "cest possible", "pas de probleme", "pas de souci",
                  "pas de soucis", "no problem", "bien sur", "ca marche", "entendu", "d accord", "dacord", "okay",
                  "we can", "i can", "sure", "of course", "dinanu ko def", "dinanu def", "dina ko def", "dinaa ko def",
                  "mun nanu", "mun naa", "men nanu", "men naa", "man nanu", "man naa", "baax na", "waaw",
                  "noo ko def", "deal", "ok", "oui", "yes", "on est pret", "je suis pret", "disponible",
                  "c est bon", "cest bon", "c bon", "je prends", "je prend", "on prend", "je valide", "je confirme")
DECLINE_PHRASES = ("pas possible", "impossible", "on n a plus", "on a plus", "n a plus rien", "a plus rien",
                   "plus rien", "on a rien", "n a rien", "pas de stock", "plus de stock", "peux pas", "pouvons pas",
                   "peut pas", "pourrai pas", "pourrons pas", "pas cette semaine", "pas pour cette", "can t", "cant",
                   "cannot", "can not", "not possible", "unable", "sorry no", "no sorry", "not this week",
                   "nothing left", "sold out", "amunu", "amuma", "amul", "amul dara", "menuma", "manuma", "munuma", "amougnou", "amounou", "amouma", "amoul", "mounouma", "manouma",
                   "menunu", "manunu", "mununu", "jeex na", "jeexna", "jeex", "deedeet", "dedet", "non merci",
                   "no thanks", "pas dispo", "pas disponible", "indisponible")

# Thresholds of the fuzzy product match (rapidfuzz ratio on token-sorted, normalised strings, 0-100).
ACCEPT_SCORE = 85      # a fuzzy match below this is never recorded
MARGIN = 10            # ... and it must beat the next *different* product by this much
CANDIDATE_SCORE = 70   # matches above this are offered as "did you mean ...?"
MIN_FUZZY_LEN = 4      # shorter words match exactly or not at all
MAX_CANDIDATES = 3
MAX_QUANTITY = 100_000  # above this a stock figure is a typo, not a stock
MAX_TOKENS = 60         # longer texts are letters, not reports: only keywords are looked for
MAX_FUZZY_RUN = 6       # longest run of unknown words we try to split into products

ORDER_FORMAT = "CMD-{:04d}"

def _fold_all(words: Iterable[str]) -> frozenset[str]:
    """A word list as the parser compares it (normalised)."""
    return frozenset(normalise(word) for word in words if normalise(word))


def _fold_map(table: Mapping[object, Iterable[str]]) -> dict[str, object]:
    """{key: spellings} -> {normalised spelling: key}."""
    return {normalise(word): key for key, words in table.items() for word in words}


_HELP = _fold_all(HELP_WORDS)
_MENU = _fold_all(MENU_WORDS)
_GREETINGS = sorted((tuple(_words(g)) for g in GREETINGS), key=len, reverse=True)  # longest first
_OPTOUT = _fold_all(OPTOUT_WORDS)
_OPTIN = _fold_all(OPTIN_WORDS)
_LANGUAGE = _fold_all(LANGUAGE_WORDS)
_LANGUAGE_VALUES = _fold_map(LANGUAGE_VALUES)
_CANCEL = _fold_all(CANCEL_WORDS)
_POLITE = frozenset(w for phrase in POLITE_WORDS for w in _words(phrase))
_THANKS = _fold_all(THANKS_WORDS)
_BLESSING = frozenset(w for phrase in BLESSING_WORDS for w in _words(phrase))
_YES = _fold_all(YES_WORDS)
_NO = _fold_all(NO_WORDS)
_CAN = frozenset(tuple(_words(p)) for p in CAN_PHRASES)
_ONLY = _fold_all(ONLY_WORDS)
_DISCOURSE = _fold_all(DISCOURSE_WORDS)
_WORKSHOP = _fold_all(WORKSHOP_WORDS)
_PRICE = _fold_all(PRICE_WORDS)
_STOCK = _fold_all(STOCK_WORDS)
_ZERO = _fold_all(ZERO_WORDS)
_LINK = _fold_all(LINK_WORDS)
_UNITS = _fold_map(UNITS)
_FR_SMALL = {normalise(w): v for w, v in FRENCH_SMALL.items()}
_FR_TENS = {normalise(w): v for w, v in {**FRENCH_TENS, **FRENCH_EXTRA_TENS}.items()}
_FR_HUNDRED = _fold_all(FRENCH_HUNDRED)
_FR_THOUSAND = _fold_all(FRENCH_THOUSAND)
_HALF = _fold_all(HALF_WORDS)
_ET = "et"
# Wolof: each word also with the "-i" a number takes before a noun ("ñaari pot", "fukki kilo").
_WO_SMALL = {normalise(w + suffix): v for v, ws in WOLOF_SMALL.items() for w in ws for suffix in ("", "i")}
_WO_MULT = {normalise(w + suffix): v for v, ws in WOLOF_MULTIPLIERS.items() for w in ws for suffix in ("", "i")}
_WO_FIXED = {normalise(w): v for v, ws in WOLOF_FIXED.items() for w in ws}
_WO_AND = _fold_all(WOLOF_AND)
_WEAK = _fold_all(WEAK_NUMBER_WORDS)
_YES_NO_ALL = _YES | _NO | {"acord"}  # "d'accord" is two words: "d acord"
_SALE = _fold_all(SALE_WORDS)
_PRICE_AFTER = _fold_all(w for phrase in PRICE_AFTER for w in phrase.split()) - {"lay"}
_FUTURE = _fold_all(FUTURE_WORDS)
_FUTURE_AFTER = _fold_all(FUTURE_AFTER)
_APPROX = _fold_all(APPROX_WORDS)
_APPROX_AFTER = frozenset(tuple(_words(w)) for w in APPROX_AFTER)
_RANGE_JOIN = _fold_all(RANGE_JOIN)
_RANGE_START = _fold_all(RANGE_START)
_CORRECT_KEEP_FIRST = _fold_all(CORRECT_KEEP_FIRST)
_CORRECT_KEEP_LAST = _fold_all(CORRECT_KEEP_LAST)
_EN_SMALL = {normalise(w): v for w, v in ENGLISH_SMALL.items()}
_EN_TENS = {normalise(w): v for w, v in ENGLISH_TENS.items()}
# Words that can never be (part of) a product in a stock report.
_NOT_PRODUCT = (_fold_all(FILLER_WORDS) | _STOCK | _POLITE | _YES_NO_ALL | _DISCOURSE | _ONLY | _PRICE
                | _WORKSHOP | frozenset(w for g in _GREETINGS for w in g) | frozenset(w for p in _CAN for w in p)
                | _SALE | _FUTURE | _FUTURE_AFTER | _APPROX | frozenset(w for p in _APPROX_AFTER for w in p)
                | _RANGE_JOIN | _RANGE_START | _PRICE_AFTER
                | frozenset(w for p in CORRECT_KEEP_FIRST + CORRECT_KEEP_LAST for w in _words(p))
                | frozenset(w for ws in DAY_WORDS.values() for w in _words(" ".join(ws))))

