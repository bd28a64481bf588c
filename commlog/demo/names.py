"""Person names for the demo: mostly common US names, plus accented and non-Latin ones.

Each entry is (display name part, ASCII form used in email addresses).
"""

from __future__ import annotations

import unicodedata


def ascii_fold(text: str) -> str:
    special = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "đ": "d", "Đ": "D"}
    text = "".join(special.get(c, c) for c in text)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


_FIRST_LATIN = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret
Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa
Timothy Deborah Ronald Stephanie George Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy Jacob Kathleen
Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna Larry Pamela Justin Nicole Scott Samantha
Brandon Katherine Benjamin Christine Samuel Helen Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet
Raymond Maria Jack Olivia Dennis Heather Jerry Diane Tyler Julie Aaron Joyce Jose Victoria Adam Ruth Nathan Virginia
Henry Lauren Zachary Kelly Douglas Christina Peter Joan Kyle Evelyn Noah Judith Ethan Andrea Jeremy Hannah Walter
Megan Christian Cheryl Keith Jacqueline Roger Martha Terry Madison Austin Teresa Sean Gloria Gerald Sara Carl Janice
Harold Ann Dylan Kathryn Arthur Abigail Lawrence Sophia Jordan Frances Jesse Jean Bryan Alice Billy Judy Bruce
Isabella Gabriel Julia Joe Grace Logan Amber Alan Denise Juan Danielle Albert Marilyn Willie Beverly Elijah Charlotte
Wayne Natalie Randy Theresa Vincent Diana Mason Brittany Roy Doris Ralph Kayla Bobby Alexis Russell Lori Bradley
Marie Philip Tiffany Eugene Priya Rahul Aisha Omar Fatima Carlos Sofia Luis Camila Diego Valentina Miguel Lucia
Mateo Wei Mei Jin Hiroshi Yuki Minh Linh Anh Tuan Kwame Amara Chidi Ngozi Ivan Olga Dmitri Svetlana Ahmed Layla
Hassan Noor Arjun Ananya Vikram Deepa Sanjay Kavya""".split()

_LAST_LATIN = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera
Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris
Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward
Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel
Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales
Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West
Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison
Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson
Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black
Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens
Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart
Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry
Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval Wang Li Zhang Liu
Yamamoto Tanaka Pham Le Hoang Okafor Mensah Ivanov Petrova Khan Ali Hussain Sharma Singh Gupta Reddy Iyer Das
Kowalski Novak Haddad Nasser""".split()

# Accented names: (display, ascii).
_ACCENTED_FIRST = ["José", "María", "Zoë", "Renée", "Chloé", "Björn", "Søren", "Łukasz", "Ana Sofía", "Inés",
                   "François", "Noémie", "Jürgen", "Ömer", "Çağla", "Dóra", "Ráchel", "Joël", "Hélène", "Andrés"]
_ACCENTED_LAST = ["Müller", "Peña", "Núñez", "García-Márquez", "O'Brien", "Ødegaard", "Brontë", "Dvořák",
                  "Gonçalves", "Sørensen", "Lefèvre", "Ibáñez", "Wójcik", "Szabó", "Łęcki", "Yılmaz", "Nuñez-Ruiz"]

# Non-Latin full names with a romanization for the email address.
_NON_LATIN = [
    ("王芳", "wang", "fang"),
    ("李伟", "li", "wei"),
    ("张敏", "zhang", "min"),
    ("陈静", "chen", "jing"),
    ("山田太郎", "yamada", "taro"),
    ("佐藤花子", "sato", "hanako"),
    ("김민준", "kim", "minjun"),
    ("이서연", "lee", "seoyeon"),
    ("Иван Петров", "petrov", "ivan"),
    ("Анна Смирнова", "smirnova", "anna"),
    ("Дмитрий Козлов", "kozlov", "dmitry"),
    ("محمد العلي", "alali", "mohammed"),
    ("فاطمة حسن", "hassan", "fatima"),
    ("Γιώργος Παπαδόπουλος", "papadopoulos", "giorgos"),
    ("राहुल शर्मा", "sharma", "rahul"),
    ("Nguyễn Văn An", "nguyen", "an"),
    ("Trần Thị Mai", "tran", "mai"),
    ("יעל כהן", "cohen", "yael"),
]


def person(rng) -> tuple[str, str, str]:  # noqa: ANN001 - random.Random
    """(display name, ascii first, ascii last) for one person."""
    r = rng.random()
    if r < 0.03:
        display, last, first = _NON_LATIN[rng.randrange(len(_NON_LATIN))]
        return display, first, last
    if r < 0.08:
        first = _ACCENTED_FIRST[rng.randrange(len(_ACCENTED_FIRST))]
        last = _ACCENTED_LAST[rng.randrange(len(_ACCENTED_LAST))] if rng.random() < 0.6 else _LAST_LATIN[rng.randrange(len(_LAST_LATIN))]
        return f"{first} {last}", ascii_fold(first), ascii_fold(last)
    first = _FIRST_LATIN[rng.randrange(len(_FIRST_LATIN))]
    last = _LAST_LATIN[rng.randrange(len(_LAST_LATIN))]
    return f"{first} {last}", first, last


def _clean(part: str) -> str:
    return "".join(c for c in part.lower() if c.isalnum())


def local_part(rng, first: str, last: str) -> str:  # noqa: ANN001
    f, l = _clean(first) or "user", _clean(last) or "mail"
    style = rng.randrange(10)
    if style == 0:
        return f"{f}.{l}"
    if style == 1:
        return f"{f}{l}{rng.randrange(1, 99)}"
    if style == 2:
        return f"{f[0]}{l}"
    if style == 3:
        return f"{f}.{l}{rng.randrange(60, 100)}"
    if style == 4:
        return f"{f}_{l}"
    if style == 5:
        return f"{l}.{f}"
    if style == 6:
        return f"{f}{rng.randrange(1970, 2006)}"
    if style == 7:
        return f"{f[0]}{l}{rng.randrange(1, 999)}"
    if style == 8:
        return f"{f}.{l[0]}{rng.randrange(1, 99)}"
    return f"{f}{l}"


def staff_local_part(first: str, last: str, style: int) -> str:
    f, l = _clean(first) or "staff", _clean(last) or "member"
    return (f"{f}.{l}", f"{f[0]}{l}", f"{f}{l[0]}", f"{f}_{l}")[style % 4]
