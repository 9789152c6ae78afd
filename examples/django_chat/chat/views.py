from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from chat.announce import ServerNotRunning, send_announcement
from chat.rooms import DEFAULT_ROOM, clean_room, clean_text


@login_required
def room(request):
    """The chat page: connects to the ``/room`` namespace with the browser client."""
    try:
        room = clean_room(request.GET.get("room"))
    except ValueError:
        room = DEFAULT_ROOM
    return render(request, "chat/room.html", {"room": room})


@require_POST
def announce(request):
    """POST ``room`` and ``text`` (form-encoded): emit ``announcement`` to the room.

    For any logged-in user (check ``request.user.is_staff`` instead to keep it
    to staff).  CSRF protection stays on, as for every Django POST: send the
    ``csrftoken`` cookie's value in an ``X-CSRFToken`` header (the page does;
    see the README for curl).  Answers JSON: ``{"ok": true, "announcement":
    {...}, "recipients": <clients in the room>}``.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"ok": False, "error": "login required"}, status=403)
    try:
        room = clean_room(request.POST.get("room"))
        text = clean_text(request.POST.get("text"))
    except ValueError as e:
        return JsonResponse({"ok": False, "error": str(e)}, status=400)
    announcement = {"room": room, "text": text, "from": request.user.get_username()}
    try:
        recipients = send_announcement(announcement)
    except ServerNotRunning as e:
        return JsonResponse({"ok": False, "error": str(e)}, status=503)
    return JsonResponse({"ok": True, "announcement": announcement, "recipients": recipients})
