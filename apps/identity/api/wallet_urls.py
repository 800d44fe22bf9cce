from django.urls import path

from apps.identity.api import wallet

urlpatterns = [
    path("wallet/credentials/", wallet.WalletCredentialListApi.as_view(), name="api-wallet-credentials"),
    path("wallet/presentations/", wallet.WalletPresentationListApi.as_view(), name="api-wallet-presentations"),
]
