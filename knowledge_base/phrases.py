"""The few fixed sentences the offline assistant says, in the languages the City serves.

Everything else an extractive answer says comes, word for word, from the cited procedure pages.
"""

from __future__ import annotations

__all__ = ["phrase"]

# City contact channels, named in every abstain message so the citizen is never left without a way on.
_CONTACT = {
    "fr": "Contactez la Ville de Bruxelles au 02 279 22 11 ou au Centre administratif, Brucity, rue des Halles 4, 1000 Bruxelles.",
    "nl": "Neem contact op met de Stad Brussel op 02 279 22 11 of in het Administratief Centrum, Brucity, Hallenstraat 4, 1000 Brussel.",
    "en": "Contact the City of Brussels on 02 279 22 11 or at the Administrative Centre, Brucity, Rue des Halles 4, 1000 Brussels.",
}

_PHRASES: dict[str, dict[str, str]] = {
    "abstain": {
        "fr": "Je ne trouve pas cette information dans les démarches de la Ville de Bruxelles. {contact}",
        "nl": "Ik vind deze informatie niet in de procedures van de Stad Brussel. {contact}",
        "en": "I could not find this in the City of Brussels' procedures. {contact}",
        "de": "Ich finde diese Information nicht in den Verfahren der Stadt Brüssel. {contact}",
        "es": "No encuentro esta información en los trámites de la Ciudad de Bruselas. {contact}",
        "it": "Non trovo questa informazione nelle procedure della Città di Bruxelles. {contact}",
        "pt": "Não encontro esta informação nos procedimentos da Cidade de Bruxelas. {contact}",
        "tr": "Bu bilgiyi Brüksel Şehri'nin işlemlerinde bulamadım. {contact}",
        "pl": "Nie znajduję tej informacji w procedurach Miasta Brukseli. {contact}",
        "ro": "Nu găsesc această informație în procedurile orașului Bruxelles. {contact}",
        "ar": "لم أجد هذه المعلومة في إجراءات مدينة بروكسل. {contact}",
    },
    "other_commune": {
        "fr": "Cette question concerne une autre commune ({commune}) : adressez-vous à son administration. Je réponds pour la Ville de Bruxelles.",
        "nl": "Deze vraag gaat over een andere gemeente ({commune}): neem contact op met die gemeente. Ik antwoord voor de Stad Brussel.",
        "en": "This question is about another municipality ({commune}): please contact its administration. I answer for the City of Brussels.",
    },
    "other_language": {
        "fr": "Cette information n'est disponible qu'en {doc_language} ; voici ce qu'indique la page « {title} » :",
        "nl": "Deze informatie is alleen beschikbaar in het {doc_language}; dit staat op de pagina ‘{title}’:",
        "en": "This information is only available in {doc_language}; here is what the page “{title}” says:",
        "de": "Diese Information gibt es nur auf {doc_language}; die Seite „{title}“ sagt:",
        "es": "Esta información solo está disponible en {doc_language}; esto dice la página «{title}»:",
        "it": "Questa informazione è disponibile solo in {doc_language}; ecco cosa dice la pagina «{title}»:",
        "pt": "Esta informação só está disponível em {doc_language}; eis o que diz a página «{title}»:",
        "tr": "Bu bilgi yalnızca {doc_language} dilinde mevcut; “{title}” sayfasında şunlar yazıyor:",
        "pl": "Ta informacja jest dostępna tylko w języku {doc_language}; strona „{title}” mówi:",
        "ro": "Această informație este disponibilă doar în {doc_language}; iată ce spune pagina „{title}”:",
        "ar": "هذه المعلومة متوفرة فقط باللغة {doc_language}؛ هذا ما تقوله صفحة «{title}»:",
    },
    "clarify": {
        "fr": "Votre question peut concerner plusieurs démarches. Laquelle vous intéresse ?",
        "nl": "Uw vraag kan over meerdere procedures gaan. Welke bedoelt u?",
        "en": "Your question may be about several procedures. Which one do you mean?",
        "de": "Ihre Frage kann mehrere Verfahren betreffen. Welches meinen Sie?",
        "es": "Su pregunta puede referirse a varios trámites. ¿Cuál le interesa?",
        "it": "La sua domanda può riguardare diverse procedure. Quale le interessa?",
    },
    "handoff": {
        "fr": "Je transmets votre demande à un agent de la Ville de Bruxelles, qui vous répondra ici. Vous pouvez aussi nous appeler au 02 279 22 11.",
        "nl": "Ik geef uw vraag door aan een medewerker van de Stad Brussel, die u hier zal antwoorden. U kunt ons ook bellen op 02 279 22 11.",
        "en": "I am passing your request to an agent of the City of Brussels, who will answer you here. You can also call us on 02 279 22 11.",
        "de": "Ich leite Ihre Anfrage an einen Mitarbeiter der Stadt Brüssel weiter, der Ihnen hier antworten wird. Sie können uns auch unter 02 279 22 11 anrufen.",
        "es": "Transmito su solicitud a un agente de la Ciudad de Bruselas, que le responderá aquí. También puede llamarnos al 02 279 22 11.",
        "it": "Trasmetto la sua richiesta a un operatore della Città di Bruxelles, che le risponderà qui. Può anche chiamarci allo 02 279 22 11.",
    },
    "handoff_complaint": {
        "fr": "Je suis désolé que vous soyez mécontent. Je transmets votre remarque à un agent de la Ville de Bruxelles, qui vous répondra ici.",
        "nl": "Het spijt me dat u ontevreden bent. Ik geef uw opmerking door aan een medewerker van de Stad Brussel, die u hier zal antwoorden.",
        "en": "I am sorry you are unhappy. I am passing your remark to an agent of the City of Brussels, who will answer you here.",
    },
    "smalltalk": {
        "fr": "Avec plaisir. Posez-moi votre question sur une démarche de la Ville de Bruxelles.",
        "nl": "Graag gedaan. Stel me uw vraag over een procedure van de Stad Brussel.",
        "en": "You are welcome. Ask me your question about a City of Brussels procedure.",
    },
    "handoff_waiting": {
        "fr": "Un agent a été prévenu et vous répondra ici ; votre message lui est transmis.",
        "nl": "Een medewerker is verwittigd en zal u hier antwoorden; uw bericht wordt aan hem doorgegeven.",
        "en": "An agent has been notified and will answer you here; your message has been passed on.",
    },
    "source": {
        "fr": "Source : {title}",
        "nl": "Bron: {title}",
        "en": "Source: {title}",
    },
}

_LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "fr": {"fr": "français", "nl": "néerlandais", "en": "anglais"},
    "nl": {"fr": "Frans", "nl": "Nederlands", "en": "Engels"},
    "en": {"fr": "French", "nl": "Dutch", "en": "English"},
    "de": {"fr": "Französisch", "nl": "Niederländisch", "en": "Englisch"},
    "es": {"fr": "francés", "nl": "neerlandés", "en": "inglés"},
    "it": {"fr": "francese", "nl": "olandese", "en": "inglese"},
    "pt": {"fr": "francês", "nl": "neerlandês", "en": "inglês"},
    "tr": {"fr": "Fransızca", "nl": "Felemenkçe", "en": "İngilizce"},
    "pl": {"fr": "francuskim", "nl": "niderlandzkim", "en": "angielskim"},
    "ro": {"fr": "franceză", "nl": "neerlandeză", "en": "engleză"},
    "ar": {"fr": "الفرنسية", "nl": "الهولندية", "en": "الإنجليزية"},
}


def _contact(language: str) -> str:
    return _CONTACT.get(language) or f"{_CONTACT['fr']} / {_CONTACT['nl']}"


def phrase(key: str, language: str, **values: str) -> str:
    """A fixed sentence in ``language`` (English when it has no translation), with values filled in.

    >>> phrase("source", "nl", title="Huwelijksaangifte")
    'Bron: Huwelijksaangifte'
    """
    table = _PHRASES[key]
    template = table.get(language) or table["en"]
    if "doc_language" in values:
        names = _LANGUAGE_NAMES.get(language, _LANGUAGE_NAMES["en"])
        values = {**values, "doc_language": names.get(values["doc_language"], values["doc_language"])}
    return template.format(contact=_contact(language), **values)
