# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Small pure helpers."""


def notification(kind, title, message, sticky=False, next_action=None):
    """Return a client action that shows a notification to the user.

    :param str kind: `success`, `warning`, `danger` or `info`.
    :param str title: The notification's title.
    :param str message: The notification's text (plain text, escaped by the client).
    :param bool sticky: Whether it stays until closed.
    :param dict next_action: An action to run once the notification is shown.
    :return: The client action.
    :rtype: dict
    """
    params = {'type': kind, 'title': title, 'message': message, 'sticky': sticky}
    if next_action:
        params['next'] = next_action
    return {'type': 'ir.actions.client', 'tag': 'display_notification', 'params': params}


def normalize_print_area(area):
    """Return the print area name Gelato's order API accepts.

    Templates may name the main area `front` or `1`; orders want `default`.

    :param str area: The print area as the template names it.
    :return: The lower-case area name.
    :rtype: str
    """
    area = area.strip().lower()
    return 'default' if area in ('front', '1') else area
