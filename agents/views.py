from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from autonomos.core.events import read_events
from autonomos.core.tenancy import current_tenant


@login_required
def home(request):
    tenant = current_tenant()
    events = read_events(tenant)[-20:]
    return render(request, "dashboard/home.html", {"recent_events": list(reversed(events))})
